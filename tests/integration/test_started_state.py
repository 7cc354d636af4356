"""The STARTED state on the default prefork pool, which the worker's main process writes in batches."""

import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import states
from celery.app.task import Context

from backend.app.task.results.started import MAX_WAITING, StartedWriter
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow


def _parent_of(pid: int) -> int:
    return int(Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1])


def test_a_running_task_shows_started_with_its_pool_process_and_an_outcome_stays_final(
    celery_app: Any, make_worker: Any, private_queue: str
) -> None:
    # Given a worker with the default settings (prefork)
    worker = make_worker(
        queues=private_queue, pool='prefork', concurrency=2, extra_args=['--include', 'tests.support.canvas_tasks']
    )
    # When a task fails at once, then a long task starts
    failed = celery_app.send_task('test.fail', args=['key'], queue=private_queue)
    wait_for(lambda: failed.state == states.FAILURE, timeout=60, what='the failing task to fail')
    long = celery_app.send_task('task.sleep', args=[30], queue=private_queue)
    try:
        wait_for(lambda: long.state == states.STARTED, timeout=60, what='the long task to show STARTED')
        # Then the long task's row names the pool process running it and the worker
        meta = celery_app.backend.get_task_meta(long.id, cache=False)
        assert (meta['name'], meta['worker']) == ('task.sleep', worker.name)
        assert _parent_of(meta['result']['pid']) == worker.proc.pid
        # And the failed task's STARTED state, handled in order before the long one's, did not replace its outcome
        assert celery_app.backend.get_task_meta(failed.id, cache=False)['status'] == states.FAILURE
    finally:
        celery_app.control.revoke(long.id, terminate=True)


def test_a_started_write_that_fails_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    # Given a writer whose database refuses connections (nothing listens on port 1)
    def write(rows: list[dict[str, Any]]) -> None:
        psycopg.connect('host=127.0.0.1 port=1 user=nobody connect_timeout=2').close()

    writer = StartedWriter(write, result_row=dict)
    # When two batches fail, one after the other
    with caplog.at_level(logging.WARNING, logger='backend.app.task.results.started'):
        writer.write_now([{'task_id': 'a'}])
        writer.write_now([{'task_id': 'b'}])
    # Then neither raised (the writer thread goes on with the next rows), and one line said so
    assert [record.getMessage()[:44] for record in caplog.records] == ['could not store the STARTED state of 1 tasks']


def test_requests_waiting_for_a_blocked_writer_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    # Given a writer whose thread does not take any (as when its statement waits on a row another session locked)
    writer = StartedWriter(lambda rows: None, result_row=dict)
    request = Context(id='t1', task_name='task.ping')
    # When more tasks start than it keeps waiting
    with caplog.at_level(logging.WARNING, logger='backend.app.task.results.started'):
        queued = sum(writer.add(request, 1) for _ in range(MAX_WAITING + 5))
    # Then the main process holds no more than the bound, and the rest get no STARTED row, said once
    assert queued == MAX_WAITING
    assert len(caplog.records) == 1
