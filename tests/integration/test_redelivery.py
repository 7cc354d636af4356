"""A message redelivered again and again (its task kills the whole worker every time, so no parent is left to
retry it) reaches the dead-letter store after a bounded number of deliveries, on either broker and every pool.

The prefork case where only the pool child dies is `test_dead_letters.py`'s worker-lost test (the parent retries).
"""

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.reliability import INCLUDE, create_log_table, dead_letter, logged
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess, start_worker, wait_until_ready

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SHORT_VISIBILITY_APP = 'tests.support.short_visibility_app:celery_app'
#: `reliability.kill_worker` allows one retry: two deliveries run, the third is refused.
RUNS_ALLOWED = 2


@pytest.mark.timeout(240)
@pytest.mark.parametrize('pool', ['solo', 'threads', 'prefork'])
def test_a_message_that_kills_its_worker_every_time_is_dead_lettered_after_bounded_deliveries(
    celery_app: Any, private_queue: str, pg: psycopg.Connection, pool: str
) -> None:
    # Given a task whose every run SIGKILLs its worker's main process
    create_log_table(pg)
    run = uuid.uuid4().hex
    result = celery_app.send_task('reliability.kill_worker', args=[run], queue=private_queue)
    workers: list[WorkerProcess] = []
    try:
        # When a new worker is started each time the previous one died (as a supervisor would), a bounded number
        for _ in range(RUNS_ALLOWED + 2):
            worker = start_worker(
                celery_app,
                app_path=SHORT_VISIBILITY_APP,
                queues=private_queue,
                pool=pool,
                concurrency=1,
                extra_args=INCLUDE,
                wait=False,
            )
            workers.append(worker)
            wait_for(
                lambda worker=worker: not worker.alive() or dead_letter(pg, result.id),
                timeout=60,
                what='the worker to die or the task to be dead-lettered',
            )
            if not worker.alive():
                continue
            break
        # Then the task ran only as often as allowed, and the next delivery put it in the dead-letter store
        row = wait_for(lambda: dead_letter(pg, result.id), timeout=30, what='the dead letter')
        assert [value for _, value, _, _ in logged(pg, run)] == ['started'] * RUNS_ALLOWED
        assert (row['reason'], row['exception_type'], row['args']) == ('worker_lost', 'DeliveredTooOften', [run])
        assert 'delivered 3 times' in row['exception_message']
        stored = pg.execute('SELECT status FROM task_result WHERE task_id = %s', [result.id]).fetchone()
        assert stored == ('FAILURE',)
        # And the last worker lives on and takes the next message
        last = workers[-1]
        wait_until_ready(celery_app, last)
        assert celery_app.send_task('task.add', args=[1, 2], queue=private_queue).get(timeout=60, interval=0.05) == 3
        assert len(workers) == RUNS_ALLOWED + 1
    finally:
        for worker in workers:
            worker.stop()
