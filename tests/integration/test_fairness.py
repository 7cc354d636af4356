"""Fair to long tasks with the default settings: a long task never holds back a short one queued behind it.

With acknowledgements after the task (acks_late) and CELERY_WORKER_PREFETCH_MULTIPLIER=1, prefork hands a message
only to a free child (Celery's fair scheduling), and a message that waits in the worker for one (the look-ahead,
`worker/look_ahead.py`) goes back to the queue within `WAIT_LIMIT`: a short task goes to a free slot of this worker,
or to another worker.
"""

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.reliability import INCLUDE, create_log_table
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq_only]
#: Long enough to outlast the test; the worker running them is killed at the end.
LONG_SECONDS = 60


def _started(result: Any) -> bool:
    return bool(result.state == 'STARTED')


def test_a_short_task_never_waits_behind_long_ones(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    create_log_table(pg)
    run = uuid.uuid4().hex

    def send(seconds: float) -> Any:
        return celery_app.send_task('reliability.record', args=[run, seconds], queue=private_queue)

    # Given a worker with the default settings (prefork, 2 children) running one long task
    busy = make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    first_long = send(LONG_SECONDS)
    wait_for(lambda: _started(first_long), timeout=60, what='the first long task to start')
    second = None
    try:
        # When a short task is sent, it runs at once in the other child
        send(0).get(timeout=30, interval=0.05)
        # When a second long task takes the last slot and another short task is sent
        second_long = send(LONG_SECONDS)
        wait_for(lambda: _started(second_long), timeout=60, what='the second long task to start')
        short = send(0)
        # Then that one was not reserved by the busy worker: a second worker starting now runs it
        second = make_worker(queues=private_queue, extra_args=INCLUDE)
        short.get(timeout=60, interval=0.05)
        assert celery_app.backend.get_task_meta(short.id)['worker'] != busy.name
        assert (first_long.state, second_long.state) == ('STARTED', 'STARTED')
    finally:
        busy.kill()
        if second is not None:  # the long tasks go to it now, and its warm shutdown would wait for them
            second.kill()
