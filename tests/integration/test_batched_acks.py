"""Batched acknowledgements (solo pool, TASK_RESULT_BATCH > 1) never stall: after a message the consumer refuses,
the next 10,000 tasks are still committed and acknowledged in batches, and the bookkeeping does not grow."""

import uuid
from typing import Any

import psycopg
import pytest

from backend.app.task.messaging.dispatch import publish_many
from tests.support.reliability import dead_letter, publish_raw
from tests.support.results import ready_in, succeeded
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker

TASKS = 10_000


def bookkeeping(app: Any, worker: WorkerProcess) -> dict[str, int]:
    replies = app.control.broadcast('fba_ack_bookkeeping', destination=[worker.name], reply=True, timeout=5)
    return replies[0][worker.name]


@pytest.mark.timeout(120)
def test_a_refused_message_does_not_stall_or_leak_the_batched_acks(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a solo worker committing results 100 at a time, with room to prefetch a batch
    worker = make_worker(
        queues=private_queue,
        pool='solo',
        extra_env={'TASK_RESULT_BATCH': '100', 'TASK_TRACK_STARTED': 'false'},
        extra_args=['--include', 'tests.support.ack_probe', '--prefetch-multiplier', '200', '--loglevel=WARNING'],
    )
    warm_up = publish_many(celery_app, 'task.ping', [([], {})] * 500, queue=private_queue)
    wait_for(lambda: succeeded(pg, warm_up)[0] == len(warm_up), timeout=60, what='the warm-up tasks')
    before = bookkeeping(celery_app, worker)
    # When the consumer refuses a message (unknown task, then an undecodable body) ahead of 10,000 tasks
    unknown = celery_app.send_task('no.such.task', queue=private_queue).id
    undecodable = str(uuid.uuid4())
    publish_raw(celery_app, private_queue, b'{not json', 'application/json', {'task': 'task.ping', 'id': undecodable})
    ids = publish_many(celery_app, 'task.ping', [([], {})] * TASKS, queue=private_queue)
    # Then every result is stored, in far fewer transactions than tasks
    # (the queue is FIFO: wait cheaply for the last one, then count them all)
    wait_for(lambda: succeeded(pg, ids[-1:])[0] == 1, timeout=90, interval=0.2, what='the last result')
    wait_for(lambda: succeeded(pg, ids)[0] == TASKS, timeout=30, interval=1, what='10,000 results')
    stored, transactions = succeeded(pg, ids)
    print(f'\n{stored} results in {transactions} transactions')
    assert transactions < TASKS / 2
    assert dead_letter(pg, unknown)['reason'] == 'unknown_task'
    assert dead_letter(pg, undecodable)['reason'] == 'undecodable'
    # And the acknowledgement bookkeeping is back to nothing, memory flat
    after = wait_for(
        lambda: (state := bookkeeping(celery_app, worker))['held_tags'] == 0 and state, timeout=10, what='no held tag'
    )
    assert after['rss_kb'] - before['rss_kb'] < 30_000, (before, after)
    # And every message was acknowledged: once the worker stops, none comes back to the queue
    worker.stop()
    assert ready_in(celery_app, private_queue) == 0
