"""`/api/v1/tasks`: listing tasks and sending calls, over the real broker."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from backend.app.task.constants import API_JSON_MAX_DEPTH
from backend.main import create_app
from tests.support.api import api_settings, assert_error, client_for, dead_broker_app
from tests.support.worker import WorkerProcess

# Only the tests that send through the broker run once per broker kind (marked broker); refusals happen before it.

IN_AN_HOUR = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


async def test_list_tasks_shows_drop_in_tasks_with_their_argument_schema(api: httpx.AsyncClient) -> None:
    response = await api.get('/api/v1/tasks', params={'limit': 100})
    assert response.status_code == 200, response.text
    page = response.json()
    tasks = {task['name']: task for task in page['items']}
    assert {'task.ping', 'task.add', 'db_log.log_login', 'email.send_welcome'} <= set(tasks)
    assert tasks['db_log.log_login']['is_async'] is True
    assert tasks['email.send_welcome']['arg_schema']['required'] == ['email', 'name']
    assert page['total'] == len(page['items'])


async def test_list_tasks_filters_by_name_and_pages(api: httpx.AsyncClient) -> None:
    first = (await api.get('/api/v1/tasks', params={'name': 'task.', 'limit': 1})).json()
    second = (await api.get('/api/v1/tasks', params={'name': 'task.', 'limit': 1, 'offset': 1})).json()
    assert first['total'] == second['total'] >= 3
    assert len(first['items']) == len(second['items']) == 1
    assert first['items'][0]['name'] != second['items'][0]['name']
    assert all('task.' in page['items'][0]['name'] for page in (first, second))


async def test_list_tasks_refuses_a_page_too_large(api: httpx.AsyncClient) -> None:
    assert_error(await api.get('/api/v1/tasks', params={'limit': 1000}), 422, 'limit')


@pytest.mark.broker
async def test_send_task_runs_it_on_a_worker(api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any) -> None:
    # Given a worker, when a call is sent through the API
    response = await api.post('/api/v1/tasks/task.add/send', json={'args': [40, 2]})
    # Then it is accepted with an id whose result the worker stores
    assert response.status_code == 202, response.text
    task_id = response.json()['task_id']
    assert celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05) == 42


async def test_send_task_unknown_name_is_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.post('/api/v1/tasks/no.such_task/send', json={}), 404, "No task named 'no.such_task'")


@pytest.mark.parametrize(
    ('name', 'body', 'fragment'),
    [
        ('task.add', {'args': [1]}, "missing a required argument: 'y'"),
        ('task.add', {'kwargs': {'z': 1}, 'args': [1, 2]}, "unexpected keyword argument 'z'"),
        ('task.add', {'args': ['x', 1]}, 'task task.add: x: Input should be a valid number'),
        (
            'email.send_welcome',
            {'args': ['a@b.co', 'Ann']},
            'email.send_welcome takes keyword arguments only (its payload model WelcomeEmail)',
        ),
        ('email.send_welcome', {'kwargs': {'email': 'a@b.co', 'name': ''}}, 'name: String should have at least 1'),
        ('task.ping', {'args': 'not a list'}, 'body.args'),
        ('task.ping', {'countdown': 5, 'eta': IN_AN_HOUR}, 'give countdown or eta, not both'),
        ('task.ping', {'eta': '2999-01-01T00:00:00Z'}, 'body.eta: must be within a year of now'),
        ('task.ping', {'eta': 1700000000}, 'body.eta: must be an ISO 8601 date-time'),
        ('task.ping', {'countdown': '5'}, 'body.countdown'),
        ('task.ping', {'queue': 'bad queue name'}, 'body.queue'),
        ('task.ping', {'priority': 10}, 'body.priority'),
        ('task.ping', {'queue': 'nobody-reads'}, "queue: 'nobody-reads' is not declared in TASK_QUEUES"),
    ],
)
async def test_send_task_refuses_arguments_that_do_not_fit_with_422(
    api: httpx.AsyncClient, name: str, body: dict[str, Any], fragment: str
) -> None:
    assert_error(await api.post(f'/api/v1/tasks/{name}/send', json=body), 422, fragment)


async def test_send_task_refuses_arguments_nested_too_deep(api: httpx.AsyncClient) -> None:
    nested: list[Any] = []
    for _ in range(API_JSON_MAX_DEPTH):
        nested = [nested]
    assert_error(
        await api.post('/api/v1/tasks/task.add/send', json={'args': [nested, 1]}), 422, 'body.args: is nested deeper'
    )


async def test_send_task_refuses_a_body_over_the_size_limit_with_413() -> None:
    app = create_app(api_settings(API_MAX_BODY_BYTES=1000))
    async with client_for(app) as client:
        response = await client.post('/api/v1/tasks/task.ping/send', json={'kwargs': {'text': 'x' * 2000}})
    assert_error(response, 413, 'larger than 1000 bytes')


async def test_send_task_refuses_a_streamed_body_over_the_size_limit_with_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"kwargs": {"text": "'
        for _ in range(10):
            yield b'x' * 200
        yield b'"}}'

    async with client_for(create_app(api_settings(API_MAX_BODY_BYTES=1000))) as client:
        response = await client.post('/api/v1/tasks/task.ping/send', content=chunks())
    assert 'content-length' not in response.request.headers
    assert_error(response, 413, 'larger than 1000 bytes')


@pytest.mark.broker
async def test_send_task_with_the_broker_down_is_503_and_names_no_url() -> None:
    # Given an API whose broker does not answer
    async with client_for(create_app(api_settings(), celery=dead_broker_app())) as client:
        # When a call is sent
        response = await client.post('/api/v1/tasks/task.ping/send', json={})
    # Then it fails loudly with a sentence and no broker address or password
    body = assert_error(response, 503, 'The broker did not accept task task.ping', 'Nothing was sent')
    assert 'guest' not in response.text and '127.0.0.1' not in body['msg']


@pytest.mark.broker
async def test_send_batch_sends_every_call(api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any) -> None:
    response = await api.post('/api/v1/tasks/task.add/send-batch', json={'items': [{'args': [i, 1]} for i in range(5)]})
    assert response.status_code == 202, response.text
    task_ids = response.json()['task_ids']
    assert len(set(task_ids)) == 5
    assert [celery_app.AsyncResult(t).get(timeout=30, interval=0.05) for t in task_ids] == [1, 2, 3, 4, 5]


async def test_send_batch_above_the_maximum_is_413() -> None:
    async with client_for(create_app(api_settings(API_SEND_BATCH_MAX=2))) as client:
        response = await client.post('/api/v1/tasks/task.ping/send-batch', json={'items': [{}, {}, {}]})
    assert_error(response, 413, 'at most 2 calls')


async def test_send_batch_refuses_unknown_tasks_and_bad_items(api: httpx.AsyncClient) -> None:
    assert_error(await api.post('/api/v1/tasks/no.such_task/send-batch', json={'items': [{}]}), 404)
    assert_error(
        await api.post('/api/v1/tasks/task.add/send-batch', json={'items': [{'args': [1]}]}), 422, 'Item 0', "'y'"
    )
    assert_error(await api.post('/api/v1/tasks/task.add/send-batch', json={'items': []}), 422, 'body.items')
    body = {'items': [{'args': [1, 2]}], 'queue': 'nobody-reads'}
    assert_error(await api.post('/api/v1/tasks/task.add/send-batch', json=body), 422, "queue: 'nobody-reads'")
