"""The fba guide's task examples, declared with `@celery_app.task` / `@shared_task`, run on a real worker.

`tests/support/guide_tasks.py` holds them as a user copies them; these tests
send them to a prefork worker (and a threads worker, where two async tasks
share one event loop) and read the outcome from the result backend.
"""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import states

from tests.support import guide_tasks
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess, start_worker

pytestmark = pytest.mark.broker
INCLUDE = ['--include', 'tests.support.guide_tasks']


@pytest.fixture(scope='module')
def guide_queue() -> str:
    return 'test-guide-' + __import__('uuid').uuid4().hex[:8]


@pytest.fixture(scope='module')
def guide_worker(celery_app: Any, guide_queue: str) -> Iterator[WorkerProcess]:
    worker = start_worker(celery_app, queues=guide_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    yield worker
    worker.stop()


def test_the_guides_bound_async_task_with_base_taskbase_returns_its_result(
    guide_worker: WorkerProcess, guide_queue: str
) -> None:
    result = guide_tasks.my_task.apply_async(args=['a', 2], queue=guide_queue)
    assert result.get(timeout=60, interval=0.05) == 'a:2'


def test_the_guides_self_retry_inside_an_async_task_schedules_the_retry(
    guide_worker: WorkerProcess, guide_queue: str, pg: psycopg.Connection
) -> None:
    # Given the guide's task failing inside its coroutine, which calls `raise self.retry(exc=e, countdown=60)`
    result = guide_tasks.my_task.apply_async(args=['b', -1], queue=guide_queue)
    # Then the task is stored as RETRY with the exception, not as a serialisation failure
    wait_for(lambda: result.state == states.RETRY, timeout=60, what='the RETRY state')
    assert isinstance(result.result, ValueError) and 'b cannot take -1' in str(result.result)
    result.revoke()


def test_an_unbound_async_task_without_base_runs_on_the_loop(guide_worker: WorkerProcess, guide_queue: str) -> None:
    assert guide_tasks.task_demo_async.apply_async(queue=guide_queue).get(timeout=60, interval=0.05) == 'test async'
    assert guide_tasks.task_demo_async.is_async and guide_tasks.add.is_async is False


def test_self_request_inside_a_shared_async_task_is_its_own(guide_worker: WorkerProcess, guide_queue: str) -> None:
    result = guide_tasks.whoami.apply_async(queue=guide_queue)
    seen = result.get(timeout=60, interval=0.05)
    assert seen == {'id': result.id, 'retries': 0, 'hostname': guide_worker.name}


def test_self_retry_inside_an_async_task_runs_it_again(guide_worker: WorkerProcess, guide_queue: str) -> None:
    assert guide_tasks.retry_until.apply_async(args=[2], queue=guide_queue).get(timeout=60, interval=0.05) == 2


def test_autoretry_around_an_async_body_ends_in_the_exception(guide_worker: WorkerProcess, guide_queue: str) -> None:
    result = guide_tasks.always_missing.apply_async(args=['k'], queue=guide_queue)
    with pytest.raises(KeyError):
        result.get(timeout=60, interval=0.05)
    assert result.retries == 1


def test_a_plain_celery_app_task_still_runs(guide_worker: WorkerProcess, guide_queue: str) -> None:
    assert guide_tasks.add.apply_async(args=[2, 3], queue=guide_queue).get(timeout=60, interval=0.05) == 5


def test_two_async_tasks_on_one_loop_each_see_their_own_request(celery_app: Any, private_queue: str) -> None:
    # Given a threads worker, whose two slots share one event loop
    worker = start_worker(celery_app, queues=private_queue, pool='threads', concurrency=2, extra_args=INCLUDE)
    try:
        # When two tasks are inside their coroutines at the same time
        first = guide_tasks.whoami.apply_async(args=[1.0], queue=private_queue)
        second = guide_tasks.whoami.apply_async(args=[1.0], queue=private_queue)
        # Then each reads its own request
        assert first.get(timeout=60, interval=0.05)['id'] == first.id
        assert second.get(timeout=60, interval=0.05)['id'] == second.id
    finally:
        worker.stop()
