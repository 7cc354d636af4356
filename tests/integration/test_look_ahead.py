"""A prefork worker holds one message per child ahead, and gives back any that waits while every child is busy.

`backend/app/task/worker/look_ahead.py`: on RabbitMQ classic queues with the
default prefetch multiplier (1), the worker's QoS is twice its pool. A message
that waits `WAIT_LIMIT` for a child goes back to the queue, unstarted, with a
delivery credit so its next start counts as its first delivery.
"""

import uuid
from typing import Any

import psycopg
import pytest

from backend.app.task.worker.look_ahead import WAIT_LIMIT
from tests.support.reliability import INCLUDE, create_log_table, runs_per_task

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq_only]
#: Much longer than `WAIT_LIMIT`: a message behind two such tasks is given back.
TASK_SECONDS = 1.0


def _deliveries(pg: psycopg.Connection, task_ids: list[str]) -> dict[str, int]:
    rows = pg.execute('SELECT task_id, deliveries FROM task_delivery WHERE task_id = ANY(%s)', [task_ids]).fetchall()
    return dict(rows)


def _send_four_and_wait(celery_app: Any, queue: str, pg: psycopg.Connection) -> tuple[list[str], dict[str, int]]:
    """Four tasks to a worker with two children; each runs once and succeeds. Their delivery counts."""
    run = uuid.uuid4().hex
    results = [celery_app.send_task('reliability.record', args=[run, TASK_SECONDS], queue=queue) for _ in range(4)]
    for result in results:
        result.get(timeout=60, interval=0.05)
    task_ids = [result.id for result in results]
    assert runs_per_task(pg, run) == dict.fromkeys(task_ids, 1)
    return task_ids, _deliveries(pg, task_ids)


def test_messages_behind_busy_children_go_back_unstarted_and_count_as_first_deliveries(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    assert TASK_SECONDS > 5 * WAIT_LIMIT
    create_log_table(pg)
    # Given a worker with the default settings (prefork, 2 children, prefetch multiplier 1)
    make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)

    # When four long tasks arrive: two run, the next wait in the worker (its QoS is four) and are given back (two,
    # or one if the last was published after the first was given back and the QoS narrowed)
    _, counted = _send_four_and_wait(celery_app, private_queue, pg)
    # Then those given back ran once each, counted as first deliveries, not as redeliveries after a crash
    assert 1 <= len(counted) <= 2 and set(counted.values()) == {1}

    # And once its children are free and nothing long runs, the worker looks ahead again: the same happens anew
    _, counted = _send_four_and_wait(celery_app, private_queue, pg)
    assert 1 <= len(counted) <= 2 and set(counted.values()) == {1}


def test_a_prefetch_the_user_chose_is_left_as_it_is(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    create_log_table(pg)
    # Given a worker told to hold two messages per child
    make_worker(
        queues=private_queue,
        pool='prefork',
        concurrency=2,
        extra_args=INCLUDE,
        extra_env={'CELERY_WORKER_PREFETCH_MULTIPLIER': '2'},
    )
    # When four long tasks arrive at once, then the two that wait stay in the worker: none is given back
    _, counted = _send_four_and_wait(celery_app, private_queue, pg)
    assert counted == {}
