"""Groups, chords, chains, get_many and forget through the PostgreSQL result backend and a real worker.

The worker runs the threads pool with several slots, so header tasks of a
chord really finish at the same moment and race on the chord counter.
"""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import chain, chord, group, states
from celery.exceptions import TimeoutError as ResultTimeout

from tests.support.canvas_tasks import RUNS_TABLE
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker
SLOTS = 8


@pytest.fixture
def canvas_worker(make_worker: Any, private_queue: str, pg: psycopg.Connection) -> Iterator[tuple[WorkerProcess, str]]:
    pg.execute(f'CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (task_id text NOT NULL, value jsonb NOT NULL)')
    worker = make_worker(
        queues=private_queue,
        pool='threads',
        concurrency=SLOTS,
        extra_args=['--include', 'tests.support.canvas_tasks'],
        extra_env={'CELERY_WORKER_PREFETCH_MULTIPLIER': '4'},
    )
    yield worker, private_queue


def sig(app: Any, name: str, queue: str, *args: Any) -> Any:
    return app.signature(name, args=args, queue=queue, immutable=False)


def test_chord_body_runs_once_when_header_tasks_finish_together(
    celery_app: Any, canvas_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    _, queue = canvas_worker
    # Given three chords whose 8 header tasks each finish at one shared moment on 8 threads
    moment = time.time() + 3
    results = [
        chord(
            [sig(celery_app, 'test.finish_at', queue, moment + n, i) for i in range(SLOTS)],
            sig(celery_app, 'test.record', queue),
        ).apply_async()
        for n in range(3)
    ]
    # When every body has finished
    values = [r.get(timeout=90, interval=0.1) for r in results]
    # Then each body got every header value and ran exactly once
    assert values == [list(range(SLOTS))] * 3
    runs = pg.execute(f'SELECT task_id, count(*) FROM {RUNS_TABLE} GROUP BY task_id').fetchall()
    assert {row[0]: row[1] for row in runs if row[0] in {r.id for r in results}} == {r.id: 1 for r in results}
    # And each chord counted its 8 header tasks once and marked its body sent; the header groups are gone
    group_ids = [r.parent.id for r in results]
    counters = pg.execute('SELECT done, size, body_sent FROM task_chord WHERE group_id = ANY(%s)', [group_ids])
    assert counters.fetchall() == [(SLOTS, SLOTS, True)] * 3
    assert pg.execute('SELECT count(*) FROM task_group_result WHERE group_id = ANY(%s)', [group_ids]).fetchone() == (0,)


def test_chord_with_a_failing_header_task_fails_the_body_with_that_tasks_exception(
    celery_app: Any, canvas_worker: tuple[WorkerProcess, str]
) -> None:
    _, queue = canvas_worker
    result = chord(
        [sig(celery_app, 'task.add', queue, 1, 2), sig(celery_app, 'test.fail', queue, 'gone')],
        sig(celery_app, 'test.record', queue),
    ).apply_async()
    # The caller gets the header task's own exception, as with Celery's Redis backend (not a ChordError)
    with pytest.raises(KeyError, match='gone'):
        result.get(timeout=60, interval=0.1)


def test_a_group_chained_after_a_failed_task_raises_that_tasks_exception(
    celery_app: Any, canvas_worker: tuple[WorkerProcess, str]
) -> None:
    _, queue = canvas_worker
    # Given a chain whose middle task fails, so the group after it never runs
    failing = celery_app.signature('test.fail', args=('boom',), queue=queue, immutable=True)
    result = (
        sig(celery_app, 'task.add', queue, 1, 1)
        | failing
        | group(sig(celery_app, 'task.add', queue, 1), sig(celery_app, 'task.add', queue, 2))
    ).apply_async()
    # Then the native join of the group raises the failed task's exception instead of waiting for its timeout
    started = time.monotonic()
    with pytest.raises(KeyError, match='boom'):
        result.get(timeout=60, interval=0.1)
    assert time.monotonic() - started < 30


def test_group_joins_natively_in_order(celery_app: Any, canvas_worker: tuple[WorkerProcess, str]) -> None:
    _, queue = canvas_worker
    result = group(sig(celery_app, 'task.add', queue, i, i) for i in range(10)).apply_async()
    assert result.supports_native_join
    assert result.join_native(timeout=60, interval=0.1) == [2 * i for i in range(10)]


def test_get_many_yields_every_ready_result(celery_app: Any, canvas_worker: tuple[WorkerProcess, str]) -> None:
    _, queue = canvas_worker
    sent = [celery_app.send_task('task.add', args=[i, 1], queue=queue) for i in range(5)]
    got = dict(celery_app.backend.get_many([r.id for r in sent], timeout=60, interval=0.1))
    assert {task_id: meta['result'] for task_id, meta in got.items()} == {r.id: i + 1 for i, r in enumerate(sent)}


def test_get_many_times_out_on_a_task_that_never_ran(celery_app: Any) -> None:
    with pytest.raises(ResultTimeout):
        list(celery_app.backend.get_many([str(uuid.uuid4())], timeout=0.3, interval=0.1))


def test_chain_passes_each_result_to_the_next_task(celery_app: Any, canvas_worker: tuple[WorkerProcess, str]) -> None:
    _, queue = canvas_worker
    result = chain(
        sig(celery_app, 'task.add', queue, 1, 2),
        sig(celery_app, 'task.add', queue, 3),
        sig(celery_app, 'task.add', queue, 4),
    ).apply_async()
    assert result.get(timeout=60, interval=0.1) == 10
    assert result.parent.get(timeout=5) == 6


def test_failure_is_raised_again_with_its_type(celery_app: Any, canvas_worker: tuple[WorkerProcess, str]) -> None:
    _, queue = canvas_worker
    result = celery_app.send_task('test.fail', args=['missing'], queue=queue)
    with pytest.raises(KeyError, match='missing'):
        result.get(timeout=60, interval=0.1)
    assert result.state == states.FAILURE


def test_finished_task_records_extended_fields_and_run_time(
    celery_app: Any, canvas_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    worker, queue = canvas_worker
    result = celery_app.send_task('task.sleep', args=[0.2], queue=queue)
    assert result.get(timeout=60, interval=0.1) == 0.2
    row = pg.execute(
        'SELECT name, args, worker, queue, runtime, date_started <= date_done FROM task_result WHERE task_id = %s',
        [result.id],
    ).fetchone()
    assert row is not None
    name, args, worker_name, routed_to, runtime, ordered = row
    assert (name, args, worker_name, routed_to, ordered) == ('task.sleep', [0.2], worker.name, queue, True)
    assert 0.2 <= runtime < 30


def test_forget_drops_a_finished_result(celery_app: Any, canvas_worker: tuple[WorkerProcess, str]) -> None:
    _, queue = canvas_worker
    result = celery_app.send_task('task.add', args=[1, 1], queue=queue)
    assert result.get(timeout=60, interval=0.1) == 2
    result.forget()
    assert celery_app.AsyncResult(result.id).state == states.PENDING


def test_revoked_task_is_stored_as_revoked(celery_app: Any, make_worker: Any, private_queue: str) -> None:
    # Given a one-slot worker busy with a slow task and a second task waiting behind it
    make_worker(queues=private_queue, pool='threads', concurrency=1)
    busy = celery_app.send_task('task.sleep', args=[2], queue=private_queue)
    waiting = celery_app.send_task('task.add', args=[1, 1], queue=private_queue)
    wait_for(lambda: busy.state == states.STARTED or busy.ready(), timeout=60, what='the slow task to start')
    # When the waiting task is revoked
    celery_app.control.revoke(waiting.id)
    # Then it never runs and its state says so
    wait_for(lambda: waiting.state == states.REVOKED, timeout=60, what='the revoked state to be stored')
    assert busy.get(timeout=60) == 2


def test_canvas_on_a_solo_worker_batching_results(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given the throughput setup: a solo worker committing results in batches, no STARTED writes
    pg.execute(f'CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (task_id text NOT NULL, value jsonb NOT NULL)')
    make_worker(
        queues=private_queue,
        extra_args=['--include', 'tests.support.canvas_tasks'],
        extra_env={'TASK_RESULT_BATCH': '5', 'TASK_TRACK_STARTED': 'false', 'CELERY_WORKER_PREFETCH_MULTIPLIER': '16'},
    )
    q = private_queue
    # When a group, a chain and a chord run on it
    grouped = group(sig(celery_app, 'task.add', q, i, 1) for i in range(12)).apply_async()
    chained = chain(sig(celery_app, 'task.add', q, 1, 1), sig(celery_app, 'task.add', q, 1)).apply_async()
    chorded = chord(
        [sig(celery_app, 'task.add', q, i, i) for i in range(7)], sig(celery_app, 'test.record', q)
    ).apply_async()
    # Then each gives the same results as on any other pool
    assert grouped.join_native(timeout=60, interval=0.05) == [i + 1 for i in range(12)]
    assert chained.get(timeout=60, interval=0.05) == 3
    assert chorded.get(timeout=60, interval=0.05) == [2 * i for i in range(7)]
