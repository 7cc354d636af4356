"""A prefork worker holds one message per child ahead, and gives back any that waits while every child is busy.

`backend/app/task/worker/look_ahead.py`: on RabbitMQ classic queues with the
default prefetch multiplier (1), the worker's QoS is its pool plus `AHEAD_PER_CHILD` per child. A message
that waits `WAIT_LIMIT` for a child goes back to the queue, unstarted, with a
delivery credit so its next start counts as its first delivery; the QoS narrows
to the pool until a child is free and nothing long runs.
"""

import time
import uuid
from typing import Any

import psycopg
import pytest

from backend.app.task.worker.look_ahead import AHEAD_PER_CHILD, CHECK_EVERY, WAIT_LIMIT
from tests.support.reliability import INCLUDE, create_log_table, dead_letter, publish_raw, runs_per_task
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq_only]
#: Much longer than `WAIT_LIMIT`: a message behind two such tasks is given back.
LONG = 1.0
CHILDREN = 2


def _wide(children: int) -> int:
    """The QoS of a worker looking ahead with `children` children."""
    return children * (1 + AHEAD_PER_CHILD)


def _prefetch(celery_app: Any, worker: Any) -> int | None:
    stats = celery_app.control.inspect([worker.name], timeout=1).stats() or {}
    return stats.get(worker.name, {}).get('prefetch_count')


def _wait_for_prefetch(celery_app: Any, worker: Any, count: int) -> None:
    wait_for(lambda: _prefetch(celery_app, worker) == count, timeout=30, interval=0.05, what=f'prefetch {count}')


def _deliveries_of(pg: psycopg.Connection, task_ids: list[str]) -> dict[str, int]:
    rows = pg.execute('SELECT task_id, deliveries FROM task_delivery WHERE task_id = ANY(%s)', [task_ids]).fetchall()
    return dict(rows)


def _deliveries(pg: psycopg.Connection, results: list[Any]) -> dict[str, int]:
    return _deliveries_of(pg, [result.id for result in results])


def _send(celery_app: Any, queue: str, run: str, *seconds: float) -> list[Any]:
    return [celery_app.send_task('reliability.record', args=[run, length], queue=queue) for length in seconds]


def _each_ran_once(pg: psycopg.Connection, run: str, results: list[Any]) -> None:
    for result in results:
        result.get(timeout=60, interval=0.05)
    assert runs_per_task(pg, run) == {result.id: 1 for result in results}


@pytest.fixture
def worker(celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection) -> Any:
    """A worker with the default settings (prefork, 2 children, prefetch multiplier 1), looking ahead."""
    create_log_table(pg)
    started = make_worker(queues=private_queue, pool='prefork', concurrency=CHILDREN, extra_args=INCLUDE)
    _wait_for_prefetch(celery_app, started, _wide(CHILDREN))
    return started


def test_messages_behind_busy_children_go_back_unstarted_and_count_as_first_deliveries(
    celery_app: Any, worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    assert LONG > 5 * WAIT_LIMIT
    for _ in range(2):
        # When four long tasks arrive: two run, the next wait in the worker (its QoS is wider) and are given back
        # (two, or one if the last was published after the first was given back and the QoS narrowed)
        run = uuid.uuid4().hex
        results = _send(celery_app, private_queue, run, LONG, LONG, LONG, LONG)
        _each_ran_once(pg, run, results)
        # Then those given back ran once each, counted as first deliveries, not as redeliveries after a crash
        counted = _deliveries(pg, results)
        assert 1 <= len(counted) <= 2 and set(counted.values()) == {1}
        # And once its children are free and nothing long runs, the worker looks ahead again
        _wait_for_prefetch(celery_app, worker, _wide(CHILDREN))


def test_the_worker_stays_narrow_while_a_long_task_runs_even_with_a_child_free(
    celery_app: Any, worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a long task and a short one running, and a third waiting for them, which is given back
    run = uuid.uuid4().hex
    long, short, third = _send(celery_app, private_queue, run, 5 * LONG, LONG / 2, LONG / 2)
    _wait_for_prefetch(celery_app, worker, CHILDREN)
    # When the short ones are done (the third ran after the first short one), a child is free
    short.get(timeout=30, interval=0.05)
    third.get(timeout=30, interval=0.05)
    # Then the worker holds nothing ahead while the long task runs: it would wait behind it if both children were busy
    watched_until = time.monotonic() + 8 * CHECK_EVERY
    while time.monotonic() < watched_until:
        assert _prefetch(celery_app, worker) in (CHILDREN, None)  # None: no answer within its timeout
    assert long.state == 'STARTED'
    # And it looks ahead again once the long task is done
    _each_ran_once(pg, run, [long, short, third])
    _wait_for_prefetch(celery_app, worker, _wide(CHILDREN))


def test_a_waiting_message_whose_id_postgresql_refuses_does_not_keep_the_others_from_going_back(
    celery_app: Any, worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given both children busy with long tasks
    run = uuid.uuid4().hex
    busy = _send(celery_app, private_queue, run, LONG, LONG)
    wait_for(lambda: all(result.state == 'STARTED' for result in busy), timeout=30, what='both children busy')
    # When a message published by other code with a NUL in its task id, and a plain one, arrive together and wait
    poison_id, plain_id = f'look-ahead-{uuid.uuid4().hex[:8]}\x00', f'look-ahead-{uuid.uuid4().hex[:8]}'
    body = f'[["{run}", 0], {{}}, {{}}]'.encode()
    publish_raw(
        celery_app,
        private_queue,
        body,
        'application/json',
        *({'task': 'reliability.record', 'id': task_id} for task_id in (poison_id, plain_id)),
    )
    # Then both go back (the poison one needs no credit: it fails before it is counted), and the plain one runs
    # once, as a first delivery; the poison one ends as a dead letter under its readable id
    wait_for(lambda: _deliveries_of(pg, [plain_id]) == {plain_id: 1}, timeout=30, what='the plain one counted once')
    assert wait_for(lambda: dead_letter(pg, poison_id.replace('\x00', '\\x00')), timeout=30, what='dead letter')
    for result in busy:
        result.get(timeout=30, interval=0.05)
    assert runs_per_task(pg, run) == {busy[0].id: 1, busy[1].id: 1, plain_id: 1}
    _wait_for_prefetch(celery_app, worker, _wide(CHILDREN))


def test_while_postgresql_takes_no_credit_the_waiting_messages_stay_and_run_here_once(
    celery_app: Any, worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given the delivery counter out of reach (its table renamed: the credit fails as on a PostgreSQL outage)
    pg.execute('ALTER TABLE task_delivery RENAME TO task_delivery_away')
    try:
        # When four long tasks arrive: two run, two wait, and PostgreSQL takes no credit for them
        run = uuid.uuid4().hex
        results = _send(celery_app, private_queue, run, LONG, LONG, LONG, LONG)
        # Then the worker narrows its QoS (the broker sends nothing more) but keeps the two waiting messages
        _wait_for_prefetch(celery_app, worker, CHILDREN)
    finally:
        pg.execute('ALTER TABLE task_delivery_away RENAME TO task_delivery')
    # And they run here, once each, as first deliveries: given back, they would have come again marked
    # `redelivered` and been counted, now that the counter is back
    _each_ran_once(pg, run, results)
    assert _deliveries(pg, results) == {}
    # And the worker looks ahead again once they are done
    _wait_for_prefetch(celery_app, worker, _wide(CHILDREN))


def test_after_the_pool_grew_the_worker_looks_ahead_by_its_new_size(
    celery_app: Any, worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given the pool grown by two children (Celery widens the QoS by two for them)
    celery_app.control.pool_grow(2, destination=[worker.name], reply=True, timeout=10)
    grown = CHILDREN + 2
    _wait_for_prefetch(celery_app, worker, grown + AHEAD_PER_CHILD * CHILDREN)
    # When more long tasks arrive than it has children, so the worker narrows, gives back and runs them all
    run = uuid.uuid4().hex
    _each_ran_once(pg, run, _send(celery_app, private_queue, run, *[LONG] * (grown + 2)))
    # Then it looks ahead again by its measure per child it has now
    _wait_for_prefetch(celery_app, worker, _wide(grown))


def test_a_prefetch_the_user_chose_is_left_as_it_is(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    create_log_table(pg)
    # Given a worker told to hold two messages per child
    make_worker(
        queues=private_queue,
        pool='prefork',
        concurrency=CHILDREN,
        extra_args=INCLUDE,
        extra_env={'CELERY_WORKER_PREFETCH_MULTIPLIER': '2'},
    )
    # When four long tasks arrive at once, then the two that wait stay in the worker: none is given back
    run = uuid.uuid4().hex
    results = _send(celery_app, private_queue, run, LONG, LONG, LONG, LONG)
    _each_ran_once(pg, run, results)
    assert _deliveries(pg, results) == {}
