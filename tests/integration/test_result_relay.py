"""A prefork worker's children hand their results to the main process, which commits them together
(`backend/app/task/results/relay.py`) and acknowledges each message only after its result's commit."""

import os
import signal
import uuid
from typing import Any

import psycopg
import pytest

from backend.app.task.messaging.dispatch import publish_many
from backend.app.task.results.relay import MAX_ROW_BYTES
from tests.support.reliability import INCLUDE, create_log_table, logged, runs_per_task
from tests.support.results import ready_in, succeeded
from tests.support.wait import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq_only]
TASKS = 2_000


def test_the_results_of_busy_children_are_committed_together_and_every_message_acknowledged(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a worker with the default settings (prefork, two children) and a queue of short tasks
    ids = publish_many(celery_app, 'task.ping', [([], {})] * TASKS, queue=private_queue)
    worker = make_worker(queues=private_queue, pool='prefork', concurrency=2)
    # When it has run them all
    wait_for(lambda: succeeded(pg, ids)[0] == TASKS, timeout=120, interval=0.2, what=f'{TASKS} results')
    # Then the children's results share commits: each child committing its own would take one per task
    stored, transactions = succeeded(pg, ids)
    print(f'\n{stored} results in {transactions} transactions')
    assert transactions < 0.9 * TASKS
    # And every message was acknowledged once its result was in: none comes back when the worker stops
    worker.stop()
    assert ready_in(celery_app, private_queue) == 0


def test_with_a_prefetch_the_user_chose_each_child_stores_its_own_results(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a worker that does not look ahead (no room in its QoS for acknowledgements waiting for a commit)
    ids = publish_many(celery_app, 'task.ping', [([], {})] * 500, queue=private_queue)
    make_worker(
        queues=private_queue, pool='prefork', concurrency=2, extra_env={'CELERY_WORKER_PREFETCH_MULTIPLIER': '2'}
    )
    # When it has run a queue of short tasks, then each result had a commit of its own
    wait_for(lambda: succeeded(pg, ids)[0] == len(ids), timeout=60, interval=0.2, what='500 results')
    assert succeeded(pg, ids)[1] >= 0.99 * len(ids)


def test_a_warm_shutdown_acknowledges_the_last_results_it_committed(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a prefork worker part-way through a queue of tasks that record each run
    create_log_table(pg)
    run = uuid.uuid4().hex
    ids = [celery_app.send_task('reliability.record', args=[run, 0.1], queue=private_queue).id for _ in range(100)]
    first = make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    wait_for(lambda: len(runs_per_task(pg, run)) >= 20, timeout=60, what='20 tasks to run')
    # When it is told to stop while both children run a task (a warm shutdown: they finish) and another worker runs
    # the rest
    os.kill(first.proc.pid, signal.SIGTERM)
    wait_for(lambda: not first.alive(), timeout=60, what='the worker to stop')
    assert 'Traceback' not in first.log(), first.log()[-5000:]
    make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    # Then every task ran exactly once: the results committed during the shutdown had their messages acknowledged
    # before the connection closed, so none was delivered again
    wait_for(lambda: succeeded(pg, ids)[0] == len(ids), timeout=120, what='every result')
    twice = {task_id: count for task_id, count in runs_per_task(pg, run).items() if count != 1}
    assert twice == {}, first.log()[-5000:]


def test_a_result_too_big_for_the_socket_is_stored_by_the_child(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a prefork worker, and a task whose result is bigger than a datagram (and the socket's buffer)
    make_worker(queues=private_queue, pool='prefork', concurrency=2)
    half = 2 * MAX_ROW_BYTES
    # When it runs, amid small ones
    big = celery_app.send_task('task.add', args=['a' * half, 'b' * half], queue=private_queue)
    small = [celery_app.send_task('task.add', args=[n, 1], queue=private_queue) for n in range(20)]
    # Then its result is stored whole, and the small ones' too
    assert big.get(timeout=60, interval=0.05) == 'a' * half + 'b' * half
    assert [result.get(timeout=60, interval=0.05) for result in small] == [n + 1 for n in range(20)]


def test_a_result_whose_commit_failed_before_its_task_was_done_sends_the_message_back(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a prefork worker, and the result table out of reach (renamed: PostgreSQL refuses every commit)
    create_log_table(pg)
    worker = make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    run = uuid.uuid4().hex
    pg.execute('ALTER TABLE task_result RENAME TO task_result_away')
    try:
        # When a task's result is handed over and its commit fails while the task still runs its last step
        result = celery_app.send_task('reliability.after_its_result', args=[run, 2.0], queue=private_queue)
        # Then its message is not acknowledged when the task is done but goes back to the queue: it runs again
        wait_for(lambda: runs_per_task(pg, run)[result.id] >= 2, timeout=60, what='the task to run again')
        assert 'its result could not be stored; its message goes back to the queue' in worker.log()
    finally:
        pg.execute('ALTER TABLE task_result_away RENAME TO task_result')
    # And once PostgreSQL takes it, its result is stored
    assert result.get(timeout=60, interval=0.05) == 'done'


def test_a_child_lost_after_handing_its_result_over_does_not_run_its_task_again(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection, test_run: Any
) -> None:
    # Given a prefork worker whose result commits wait (another session holds the result table locked)
    create_log_table(pg)
    worker = make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    run = uuid.uuid4().hex
    with psycopg.connect(test_run.dsn) as locker:
        locker.execute('LOCK TABLE task_result IN EXCLUSIVE MODE')
        # When a task hands its result over and its pool process dies before reporting the task done
        result = celery_app.send_task('reliability.after_its_result', args=[run, 0], queue=private_queue)
        wait_for(lambda: [row[1] for row in logged(pg, run)] == ['ran', 'dies'], timeout=60, what='the death')
        # and the worker has handled the loss (after Celery's `worker_lost_wait`) while the result is uncommitted
        wait_for(lambda: 'WorkerLostError' in worker.log(), timeout=60, what='the loss to be handled')
        locker.rollback()
    # Then the task counts as succeeded, as when the child had stored its result itself: its result is committed and
    # its message acknowledged, and it is not run again as a lost task
    assert 'succeeded before its pool process was lost' in worker.log()
    assert result.get(timeout=60, interval=0.05) == 'done'
    assert [row[1] for row in logged(pg, run)] == ['ran', 'dies']
