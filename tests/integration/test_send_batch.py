"""Bulk enqueue (`publish_many`, `task_service.send_batch`) and batched result commits, with real workers."""

import os
import re
import subprocess
from typing import Any

import psycopg
import pytest
from amqp.exceptions import ChannelError
from celery import states

from backend.app.task.errors import InvalidTaskArguments, TaskNotRegistered
from backend.app.task.messaging.dispatch import CONFIRM_WINDOW, publish_many
from backend.app.task.messaging.queues import PRIORITY_HEADER
from backend.app.task.schema.task import SendTaskOptions
from backend.app.task.service import task_service
from tests.support.wait import wait_for

pytestmark = pytest.mark.broker


def queued(celery_app: Any, queue: str) -> int:
    with celery_app.connection_for_write() as connection:
        try:
            return int(connection.default_channel.queue_declare(queue, passive=True).message_count)
        except ChannelError:
            return 0  # Redis: an empty queue is no key at all


def unacknowledged(vhost: str, queue: str) -> int:
    """Messages delivered to a consumer and not yet acknowledged, as RabbitMQ counts them."""
    listing = subprocess.run(
        ['rabbitmqctl', '-q', 'list_queues', '-p', vhost, '--no-table-headers', 'name', 'messages_unacknowledged'],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    counts = dict(line.split() for line in listing.splitlines() if line.strip())
    return int(counts.get(queue, 0))


def stored_successes(pg: psycopg.Connection, task_ids: list[str]) -> int:
    row = pg.execute(
        "SELECT count(*) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'", [task_ids]
    ).fetchone()
    return int(row[0]) if row else 0


def test_send_batch_runs_every_call_with_its_own_arguments(
    celery_app: Any, make_worker: Any, private_queue: str
) -> None:
    private_queue = private_queue
    # Given a worker on a private queue
    make_worker(queues=private_queue)
    # When a batch of calls with different arguments is sent at once
    task_ids = task_service.send_batch(
        celery_app,
        'task.add',
        [([i, 1], {}) for i in range(5)] + [([], {'x': 2, 'y': 3})],
        SendTaskOptions(queue=private_queue),
    )
    # Then each id is distinct and its result is that call's
    assert len(set(task_ids)) == 6
    results = [celery_app.AsyncResult(task_id).get(timeout=60, interval=0.05) for task_id in task_ids]
    assert results == [1, 2, 3, 4, 5, 5]


def test_send_batch_larger_than_a_confirm_window_is_all_on_the_broker(celery_app: Any, private_queue: str) -> None:
    count = CONFIRM_WINDOW + 7
    task_ids = publish_many(celery_app, 'task.ping', [([], {})] * count, queue=private_queue)
    assert len(set(task_ids)) == count
    assert queued(celery_app, private_queue) == count
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(private_queue)


def test_send_batch_refuses_the_whole_batch_naming_the_bad_item(celery_app: Any, private_queue: str) -> None:
    items = [([1, 2], {}), ([1], {}), ([3, 4], {})]
    with pytest.raises(InvalidTaskArguments, match=re.escape('Item 1: Arguments do not fit task task.add')):
        task_service.send_batch(celery_app, 'task.add', items, SendTaskOptions(queue=private_queue))
    with celery_app.connection_for_write() as connection:
        assert connection.default_channel.queue_declare(private_queue, auto_delete=True).message_count == 0


def test_send_batch_of_an_unknown_task_is_refused(celery_app: Any) -> None:
    with pytest.raises(TaskNotRegistered):
        task_service.send_batch(celery_app, 'task.nope', [([], {})], SendTaskOptions())


def test_send_batch_with_countdown_does_not_run_early(celery_app: Any, make_worker: Any, private_queue: str) -> None:
    private_queue = private_queue
    make_worker(queues=private_queue)
    [task_id] = task_service.send_batch(
        celery_app, 'task.add', [([1, 1], {})], SendTaskOptions(queue=private_queue, countdown=1.5)
    )
    result = celery_app.AsyncResult(task_id)
    assert result.get(timeout=60, interval=0.05) == 2
    assert result.date_done is not None


def test_batched_results_are_committed_before_their_messages_are_acknowledged(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a solo worker committing results 10 at a time, without STARTED writes
    worker = make_worker(
        queues=private_queue,
        extra_env={
            'TASK_RESULT_BATCH': '10',
            'TASK_TRACK_STARTED': 'false',
            'CELERY_WORKER_PREFETCH_MULTIPLIER': '32',
        },
    )
    # When 25 calls are sent (not a multiple of the batch: the last ones are committed by the timer)
    task_ids = publish_many(celery_app, 'task.sleep', [([0.001], {})] * 25, queue=private_queue)
    # Then every result is stored with its run time, worker and name
    wait_for(lambda: stored_successes(pg, task_ids) == 25, timeout=60, what='25 stored results')
    rows = pg.execute(
        'SELECT DISTINCT name, worker, runtime IS NOT NULL AND runtime > 0 FROM task_result WHERE task_id = ANY(%s)',
        [task_ids],
    ).fetchall()
    assert rows == [('task.sleep', worker.name, True)]
    assert celery_app.AsyncResult(task_ids[-1]).state == states.SUCCESS
    # And they were committed in batches (rows of one transaction share its xmin), not one by one
    [(transactions,)] = pg.execute(
        'SELECT count(DISTINCT xmin::text) FROM task_result WHERE task_id = ANY(%s)', [task_ids]
    ).fetchall()
    assert transactions < 25
    # And every message was acknowledged: none goes back to the queue when the worker stops
    worker.stop()
    assert queued(celery_app, private_queue) == 0


@pytest.mark.rabbitmq_only  # Redis requeues only after its visibility timeout
@pytest.mark.slow
def test_batched_results_not_yet_committed_leave_their_messages_unacknowledged(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection, test_run: Any
) -> None:
    # Given a batching worker whose commit is blocked by a lock on the results table
    worker = make_worker(
        queues=private_queue,
        extra_env={'TASK_RESULT_BATCH': '10', 'TASK_TRACK_STARTED': 'false', 'CELERY_WORKER_PREFETCH_MULTIPLIER': '32'},
    )
    with psycopg.connect(f'postgresql://postgres@127.0.0.1:5432/{test_run.database}') as locker:
        locker.execute('LOCK TABLE task_result IN ACCESS EXCLUSIVE MODE')
        task_ids = publish_many(celery_app, 'task.ping', [([], {})] * 10, queue=private_queue)
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO task_result%'"
        )
        wait_for(
            lambda: pg.execute(waiting).fetchone() == (1,), timeout=60, what='the batch commit to wait on the lock'
        )
        # When the worker dies before the commit goes through
        worker.kill()
        locker.rollback()
    # Then no result was stored and every message is back on the queue for another worker
    assert stored_successes(pg, task_ids) == 0
    wait_for(lambda: queued(celery_app, private_queue) == 10, timeout=30, what='the 10 messages to be requeued')


@pytest.mark.rabbitmq_only  # multiple acks exist only on RabbitMQ
@pytest.mark.slow
def test_batched_acks_never_cover_a_message_still_held_for_its_eta(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection, test_run: Any
) -> None:
    # Given a batching worker holding a task whose countdown has not come yet
    worker = make_worker(
        queues=private_queue,
        extra_env={'TASK_RESULT_BATCH': '10', 'TASK_TRACK_STARTED': 'false', 'CELERY_WORKER_PREFETCH_MULTIPLIER': '64'},
    )
    [later] = publish_many(celery_app, 'task.ping', [([], {})], queue=private_queue, countdown=300)
    # When 30 tasks sent after it finish and their messages are acknowledged in batches
    task_ids = publish_many(celery_app, 'task.ping', [([], {})] * 30, queue=private_queue)
    wait_for(lambda: stored_successes(pg, task_ids) == 30, timeout=60, what='30 stored results')
    wait_for(lambda: unacknowledged(test_run.vhost, private_queue) == 1, timeout=60, what='the 30 acks to be sent')
    worker.kill()
    # Then the held message was not acknowledged with them: it is back on the queue, and only it
    wait_for(lambda: queued(celery_app, private_queue) == 1, timeout=30, what='the held message to be requeued')
    assert celery_app.AsyncResult(later).state == 'PENDING'


def test_send_batch_priority_reaches_the_broker_as_a_single_send_would(celery_app: Any, private_queue: str) -> None:
    # Given one call sent alone and one in a batch, both with priority 9
    celery_app.send_task('task.ping', queue=private_queue, priority=9)
    publish_many(celery_app, 'task.ping', [([], {})], queue=private_queue, priority=9)
    # Then both messages carry the same priority property and headers for it
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(celery_app.amqp.queues[private_queue])
        single, batched = (queue.get(timeout=10) for _ in range(2))
        seen = [(m.properties.get('priority'), m.headers.get(PRIORITY_HEADER)) for m in (single, batched)]
        for message in (single, batched):
            message.ack()
        queue.close()
    assert seen[0] == seen[1]
    assert seen[0][0] == (0 if os.environ['CELERY_BROKER'] == 'redis' else 9)
