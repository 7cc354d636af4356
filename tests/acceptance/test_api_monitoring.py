"""`/api/v1/monitoring`: health, queue depths, workers, failed and slow runs, against real services."""

import asyncio
import time
from typing import Any

import httpx
import pytest

from backend.app.task.celery import TaskApp
from backend.main import create_app
from tests.support.api import api_settings, assert_error, client_for, dead_broker_app
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


@pytest.mark.broker
async def test_health_answers_200_without_a_token_when_everything_is_up(
    anonymous: httpx.AsyncClient, worker: WorkerProcess
) -> None:
    response = await anonymous.get('/api/v1/monitoring/health')
    assert response.status_code == 200, response.text
    body = response.json()
    assert body['status'] == 'ok' and body['broker'] and body['database'] and body['workers'] >= 1


@pytest.mark.broker
async def test_health_answers_503_with_the_broker_down_and_shows_no_address() -> None:
    async with client_for(create_app(api_settings(), celery=dead_broker_app()), token=None) as client:
        response = await client.get('/api/v1/monitoring/health')
    assert response.status_code == 503, response.text
    assert response.json() == {'status': 'unavailable', 'broker': False, 'database': True, 'workers': 0}
    assert 'guest' not in response.text and '127.0.0.1' not in response.text


@pytest.mark.broker
async def test_live_answers_200_without_a_token_even_with_the_broker_down() -> None:
    async with client_for(create_app(api_settings(), celery=dead_broker_app()), token=None) as client:
        response = await client.get('/api/v1/monitoring/live')
    assert (response.status_code, response.json()) == (200, {'status': 'ok'})


@pytest.mark.broker
async def test_queues_with_the_broker_down_is_503() -> None:
    async with client_for(create_app(api_settings(), celery=dead_broker_app())) as client:
        response = await client.get('/api/v1/monitoring/queues')
    body = assert_error(response, 503, 'The message broker is unreachable')
    assert 'guest' not in body['msg']


def depth_of(client_response: httpx.Response, queue: str) -> dict[str, Any]:
    assert client_response.status_code == 200, client_response.text
    return next(item for item in client_response.json() if item['name'] == queue)


@pytest.mark.broker
async def test_queues_shows_depth_and_consumers_of_each_configured_queue(
    monitored_app: TaskApp, private_queue: str, make_worker: Any, celery_app: Any
) -> None:
    async with client_for(create_app(api_settings(), celery=monitored_app)) as client:
        # Given three calls waiting in a queue nobody consumes, at several priorities
        for priority in (0, 5, 9):
            body = {'queue': private_queue, 'priority': priority}
            assert (await client.post('/api/v1/tasks/task.ping/send', json=body)).status_code == 202
        # Then the queue shows all three and no consumer
        waiting = depth_of(await client.get('/api/v1/monitoring/queues'), private_queue)
        assert waiting == {'name': private_queue, 'messages': 3, 'consumers': 0}
        # When a worker starts on it, it drains the queue (and is counted as a consumer, on Redis too)
        make_worker(queues=private_queue)

        async def drained() -> dict[str, Any]:
            return depth_of(await client.get('/api/v1/monitoring/queues'), private_queue)

        shown = await wait_async(drained, lambda item: item['messages'] == 0)
        assert shown['consumers'] == 1


async def wait_async(fetch: Any, accept: Any, timeout: float = 60.0) -> Any:
    """Poll an async fetch until `accept` holds for its value (the sync `wait_for` cannot await)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if accept(value):
            return value
        assert time.monotonic() < deadline, f'timed out waiting; last value {value!r}'
        await asyncio.sleep(0.1)


@pytest.mark.broker
async def test_workers_shows_each_worker_with_pool_queues_and_counts(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given the worker finished a task
    task_id = (await api.post('/api/v1/tasks/task.ping/send', json={})).json()['task_id']
    celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05)
    # When workers are listed
    response = await api.get('/api/v1/monitoring/workers')
    # Then the worker is online with its pool, its queue and at least that task processed
    assert response.status_code == 200, response.text
    shown = next(item for item in response.json() if item['name'] == worker.name)
    assert (shown['status'], shown['pool'], shown['concurrency']) == ('online', 'solo', 1)
    assert 'default' in shown['queues']
    assert shown['processed'] >= 1 and shown['active'] == 0


@pytest.mark.broker
async def test_failed_tasks_lists_failures_newest_first_and_filters_by_name(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given two failed runs and a successful one
    failing = [celery_app.send_task('task.add', args=['a', i]).id for i in range(2)]
    ok = celery_app.send_task('task.ping').id
    for task_id in (*failing, ok):
        celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05, propagate=False)
    # When failures of task.add are listed
    response = await api.get('/api/v1/monitoring/tasks/failed', params={'name': 'task.add', 'limit': 100})
    # Then both failures are there with their error, and nothing else
    assert response.status_code == 200, response.text
    page = response.json()
    shown = {item['task_id']: item for item in page['items']}
    assert set(failing) <= set(shown) and ok not in shown
    assert all(item['status'] == 'FAILURE' and item['name'] == 'task.add' for item in page['items'])
    assert shown[failing[0]]['error'].startswith('TypeError:')
    dates = [item['date_done'] for item in page['items']]
    assert dates == sorted(dates, reverse=True)
    assert page['total'] == len(page['items'])


@pytest.mark.broker
async def test_slow_tasks_lists_runs_above_min_runtime(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given a run of about 1.2 s and a quick one
    slow = celery_app.send_task('task.sleep', args=[1.2]).id
    quick = celery_app.send_task('task.ping').id
    for task_id in (slow, quick):
        celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05)
    # When runs of at least one second are listed
    page = (await api.get('/api/v1/monitoring/tasks/slow', params={'min_runtime': 1, 'limit': 100})).json()
    # Then the slow one is there with its runtime, the quick one is not
    shown = {item['task_id']: item for item in page['items']}
    assert slow in shown and quick not in shown
    assert shown[slow]['runtime'] >= 1.2
    none = (await api.get('/api/v1/monitoring/tasks/slow', params={'min_runtime': 1000})).json()
    assert none['items'] == [] and none['total'] == 0


async def test_monitoring_lists_refuse_bad_filters(api: httpx.AsyncClient) -> None:
    assert_error(await api.get('/api/v1/monitoring/tasks/slow', params={'min_runtime': -1}), 422, 'min_runtime')
    assert_error(await api.get('/api/v1/monitoring/tasks/failed', params={'offset': -1}), 422, 'offset')
