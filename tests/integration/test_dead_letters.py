"""Retries with backoff and the dead-letter store, through a real prefork worker, broker and PostgreSQL.

One worker (prefork, two children) serves the module on its own queue; it loads
the test tasks of `tests/support/reliability_tasks.py`.
"""

import itertools
import os
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from billiard.exceptions import WorkerLostError
from celery.exceptions import TimeLimitExceeded
from kombu import Queue

from backend.app.task.schema.dead_letter import DeadLetterFilter
from backend.app.task.service import dead_letter_service
from backend.database.db import async_session, dispose_async_engine
from tests.support.reliability import INCLUDE, create_log_table, dead_letter, logged, publish_raw, runs_per_task
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess, start_worker

pytestmark = pytest.mark.broker


@pytest.fixture(scope='module')
def queue() -> str:
    return f'test-dlq-{uuid.uuid4().hex[:8]}'


@pytest.fixture(scope='module')
def dlq_worker(celery_app: Any, queue: str, test_run: Any) -> Iterator[WorkerProcess]:
    with psycopg.connect(f'postgresql://postgres@127.0.0.1:5432/{test_run.database}', autocommit=True) as conn:
        create_log_table(conn)
    worker = start_worker(celery_app, queues=queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    yield worker
    worker.stop()


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex


def test_retryable_failure_runs_again_after_a_doubling_backoff(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    # Given a task whose first two attempts raise ConnectionError (Celery's autoretry: backoff 1 s, no jitter)
    result = celery_app.send_task('reliability.flaky', args=[run, 2], queue=queue)
    # When it is left to the worker
    assert result.get(timeout=60, interval=0.05) == 2
    # Then it ran three times, waiting about 1 s and then 2 s in between, and left no dead letter
    attempts = logged(pg, run)
    assert [value for _, value, _, _ in attempts] == ['attempt 0', 'attempt 1', 'attempt 2']
    gaps = [later[3] - earlier[3] for earlier, later in itertools.pairwise(attempts)]
    assert 1.0 <= gaps[0] < 3 and 2.0 <= gaps[1] < 4, gaps
    assert dead_letter(pg, result.id) is None


def test_exhausted_retries_put_the_task_in_the_dead_letter_store(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    result = celery_app.send_task('reliability.flaky', args=[run, 99], queue=queue)
    with pytest.raises(ConnectionError):
        result.get(timeout=60, interval=0.05)
    row = wait_for(lambda: dead_letter(pg, result.id), what='the dead letter')
    assert len(logged(pg, run)) == 4  # the first run and max_retries=3 retries
    assert (row['reason'], row['retries'], row['exception_type']) == ('retries_exhausted', 3, 'ConnectionError')
    assert (row['task_name'], row['args'], row['queue']) == ('reliability.flaky', [run, 99], queue)
    assert row['worker'] == dlq_worker.name and 'attempt 3 failed' in row['exception_message']
    assert 'ConnectionError' in row['traceback'] and row['first_failed_at'] == row['last_failed_at']


async def test_non_retryable_failure_goes_straight_to_the_store_and_the_api_detail_hides_secrets(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    # Given a task that raises KeyError (not in its retry list), called with a password
    result = celery_app.send_task('reliability.broken', args=[run, 'hunter2'], queue=queue)
    with pytest.raises(KeyError):
        result.get(timeout=60, interval=0.05)
    # Then it ran once and its row says why, with the arguments as sent
    row = wait_for(lambda: dead_letter(pg, result.id), what='the dead letter')
    assert runs_per_task(pg, run) == {result.id: 1}
    assert (row['reason'], row['retries'], row['args']) == ('non_retryable', 0, [run, 'hunter2'])
    # And the service's detail (what the API and CLI show) masks the password by its parameter name
    try:
        async with async_session() as db:
            detail = await dead_letter_service.get(db=db, app=celery_app, pk=row['id'])
    finally:
        await dispose_async_engine()
    assert detail.args == [run, '***'] and 'hunter2' not in detail.model_dump_json()


async def test_requeue_sends_the_same_arguments_with_a_new_id_and_records_the_link(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str, monkeypatch: Any
) -> None:
    monkeypatch.setitem(celery_app.conf, 'task_queues', [*celery_app.conf.task_queues, Queue(queue)])
    # Given a dead letter
    first = celery_app.send_task('reliability.broken', args=[run, 'pw'], queue=queue)
    row = wait_for(lambda: dead_letter(pg, first.id), what='the first dead letter')
    # When it is requeued
    try:
        async with async_session() as db:
            detail = await dead_letter_service.requeue(db=db, app=celery_app, pk=row['id'])
    finally:
        await dispose_async_engine()
    # Then the row links the new task, which ran with the same arguments (and, failing again, has its own row)
    assert detail.requeued_task_id and detail.requeued_task_id != first.id and detail.requeued_at is not None
    assert pg.execute('SELECT requeued_task_id FROM task_dead_letter WHERE id = %s', [row['id']]).fetchone() == (
        detail.requeued_task_id,
    )
    again = wait_for(lambda: dead_letter(pg, detail.requeued_task_id), what='the requeued task to fail again')
    assert again['args'] == [run, 'pw'] and again['queue'] == queue
    assert set(runs_per_task(pg, run)) == {first.id, detail.requeued_task_id}


def test_unknown_task_message_lands_in_the_store_and_the_worker_keeps_working(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    poison = celery_app.send_task('reliability.no_such_task', args=[1], kwargs={'token': 'x'}, queue=queue)
    row = wait_for(lambda: dead_letter(pg, poison.id), what='the unknown task to be dead-lettered')
    assert (row['reason'], row['task_name'], row['args'], row['kwargs']) == (
        'unknown_task',
        'reliability.no_such_task',
        [1],
        {'token': 'x'},
    )
    assert celery_app.send_task('reliability.flaky', args=[run, 0], queue=queue).get(timeout=60) == 0


@pytest.mark.parametrize(
    ('body', 'content_type'),
    [(b'{"this is": not json', 'application/json'), (pickle.dumps(((1,), {}, {})), 'application/x-python-serialize')],
    ids=['bad-json', 'pickle'],
)
def test_undecodable_message_lands_in_the_store_and_the_worker_keeps_working(
    celery_app: Any,
    dlq_worker: WorkerProcess,
    queue: str,
    pg: psycopg.Connection,
    run: str,
    body: bytes,
    content_type: str,
) -> None:
    task_id = str(uuid.uuid4())
    publish_raw(celery_app, queue, body, content_type, {'task': 'reliability.flaky', 'id': task_id})
    row = wait_for(lambda: dead_letter(pg, task_id), what='the undecodable message to be dead-lettered')
    assert (row['reason'], row['task_name'], row['args']) == ('undecodable', 'reliability.flaky', None)
    assert row['body'] and row['exception_type']
    healthy = celery_app.send_task('reliability.flaky', args=[run, 0], queue=queue)
    assert healthy.get(timeout=60) == 0
    assert runs_per_task(pg, run) == {healthy.id: 1}  # the poison message itself never ran


def test_soft_time_limit_raises_inside_the_task_so_it_can_clean_up(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    result = celery_app.send_task('reliability.soft_limited', args=[run], queue=queue)
    assert result.get(timeout=60, interval=0.05) == 'cleaned up'
    assert [value for _, value, _, _ in logged(pg, run)] == ['cleaned up']
    assert dead_letter(pg, result.id) is None


def _pool_children(worker: WorkerProcess) -> set[int]:
    children = set()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as stat:
                    if int(stat.read().rsplit(')', 1)[1].split()[1]) == worker.proc.pid:
                        children.add(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return children


def test_hard_time_limit_kills_the_child_replaces_it_and_dead_letters_the_task(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    # Given a task that sleeps past its 1 s hard limit
    result = celery_app.send_task('reliability.hard_limited', args=[run], queue=queue)
    # When the limit strikes
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=60, interval=0.05)
    # Then its child is gone, a new one took its place, and the task is in the store
    ((_, _, killed_pid, _),) = logged(pg, run)
    wait_for(lambda: killed_pid not in _pool_children(dlq_worker), what='the killed child to be reaped')
    wait_for(lambda: len(_pool_children(dlq_worker)) == 2, what='the pool to be back to two children')
    row = wait_for(lambda: dead_letter(pg, result.id), what='the dead letter')
    assert (row['reason'], row['exception_type'], row['args']) == ('time_limit', 'TimeLimitExceeded', [run])
    assert celery_app.send_task('reliability.flaky', args=[run, 0], queue=queue).get(timeout=60) == 0


def test_a_task_that_kills_its_worker_process_is_retried_then_dead_lettered(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: psycopg.Connection, run: str
) -> None:
    # Given a task that kills the pool process running it, on every attempt (3 retries, 0.5 s apart)
    result = celery_app.send_task('reliability.crash', args=[run], queue=queue)
    # When its retries run out
    row = wait_for(lambda: dead_letter(pg, result.id), timeout=60, what='the dead letter')
    # Then it ran once per attempt, never again, and the store and the result say why
    assert [value for _, value, _, _ in logged(pg, run)] == ['attempt 0', 'attempt 1', 'attempt 2', 'attempt 3']
    assert (row['reason'], row['exception_type'], row['retries'], row['args']) == (
        'worker_lost',
        'WorkerLostError',
        3,
        [run],
    )
    with pytest.raises(WorkerLostError):
        result.get(timeout=10, interval=0.05)
    assert celery_app.send_task('reliability.flaky', args=[run, 0], queue=queue).get(timeout=60) == 0


async def test_list_and_purge_select_by_filter(celery_app: Any, dlq_worker: WorkerProcess, queue: str, pg: Any) -> None:
    # Given two dead letters of different tasks
    unknown = celery_app.send_task('reliability.gone', queue=queue)
    broken = celery_app.send_task('reliability.broken', args=['purge', 'x'], queue=queue)
    for task_id in (unknown.id, broken.id):
        wait_for(lambda task_id=task_id: dead_letter(pg, task_id), what='the dead letters')
    try:
        async with async_session() as db:
            # When listing by task name and by reason
            by_name, total = await dead_letter_service.get_list(
                db=db, app=celery_app, filters=DeadLetterFilter(task_name='reliability.gone'), limit=10, offset=0
            )
            by_reason, _ = await dead_letter_service.get_list(
                db=db,
                app=celery_app,
                filters=DeadLetterFilter(reason='non_retryable', exception_type='KeyError'),
                limit=100,
                offset=0,
            )
            # Then each filter selects its rows
            assert [item.task_id for item in by_name] == [unknown.id] and total == 1
            assert broken.id in {item.task_id for item in by_reason}
            assert unknown.id not in {item.task_id for item in by_reason}
            # And purge deletes only the matching rows
            assert await dead_letter_service.purge(db=db, filters=DeadLetterFilter(task_name='reliability.gone')) == 1
    finally:
        await dispose_async_engine()
    assert dead_letter(pg, unknown.id) is None and dead_letter(pg, broken.id) is not None


def test_retry_keeps_the_priority_it_was_sent_with(
    celery_app: Any, dlq_worker: WorkerProcess, queue: str, run: str
) -> None:
    # Given an urgent task (priority 8) that fails once and is retried
    result = celery_app.send_task('reliability.priority_of_attempts', args=[run], queue=queue, priority=8)
    # Then both attempts were delivered with the priority it was sent with (on Redis stored inverted, read back)
    first, retry = result.get(timeout=60, interval=0.05)
    assert first == retry == 8
