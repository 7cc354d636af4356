"""`/api/v1/task-results`: outcomes stored by a real worker, secrets masked, and revoking."""

import uuid
from typing import Any

import httpx
import pytest

from backend.main import create_app
from tests.acceptance.test_cli import assert_one_sentence_error, fba
from tests.support.api import api_settings, assert_error, client_for, dead_broker_app
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


async def sent(api: httpx.AsyncClient, name: str, **body: Any) -> str:
    response = await api.post(f'/api/v1/tasks/{name}/send', json=body)
    assert response.status_code == 202, response.text
    return response.json()['task_id']


@pytest.mark.broker
async def test_get_task_result_shows_a_finished_task(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given a task the worker finished
    task_id = await sent(api, 'task.add', args=[40, 2])
    celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05)
    # When its result is read
    response = await api.get(f'/api/v1/task-results/{task_id}')
    # Then state, value, worker and the call are shown
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body['state'], body['result'], body['name'], body['args']) == ('SUCCESS', 42, 'task.add', [40, 2])
    assert body['worker'] == worker.name and body['date_done'] is not None and body['error'] is None


@pytest.mark.broker
async def test_get_task_result_shows_the_error_of_a_failed_task_and_masks_secrets(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given a call carrying a secret that fails on the worker (sent around the API's own checks)
    task_id = celery_app.send_task('task.add', args=[1, 2], kwargs={'password': 'hunter2-secret'}).id
    celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05, propagate=False)
    # When its result is read
    response = await api.get(f'/api/v1/task-results/{task_id}')
    # Then the error and traceback are there, the secret is not
    body = response.json()
    assert body['state'] == 'FAILURE'
    assert body['error'].startswith('TypeError:') and 'Traceback' in body['traceback']
    assert body['kwargs'] == {'password': '***'}
    assert 'hunter2-secret' not in response.text


async def test_get_task_result_of_an_id_never_handed_out_is_404_in_api_and_cli(api: httpx.AsyncClient) -> None:
    response = await api.get('/api/v1/task-results/no-such-id')
    assert_error(response, 404, 'No task with id no-such-id has a result yet', 'never sent')
    assert_one_sentence_error(fba('task', 'status', 'no-such-id'), 'No task with id no-such-id has a result yet')


@pytest.mark.broker
async def test_get_task_result_of_a_schedule_run_not_yet_started_is_pending(
    api: httpx.AsyncClient, private_queue: str
) -> None:
    # Given a schedule run sent by hand to a queue no worker reads
    every_hour = {'kind': 'interval', 'interval_every': 1, 'interval_period': 'hours'}
    created = await api.post(
        '/api/v1/schedules',
        json={'name': f'hourly-{uuid.uuid4().hex[:8]}', 'task': 'task.ping', 'queue': private_queue, **every_hour},
    )
    assert created.status_code == 201, created.text
    run = await api.post(f'/api/v1/schedules/{created.json()["id"]}/run')
    assert run.status_code == 202, run.text
    # When its task's result is read, then the id is known: PENDING, not 404
    response = await api.get(f'/api/v1/task-results/{run.json()["task_id"]}')
    assert response.status_code == 200, response.text
    assert response.json()['state'] == 'PENDING'


@pytest.mark.broker
async def test_revoke_task_keeps_a_waiting_task_from_running(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # Given a task waiting for its countdown
    task_id = await sent(api, 'task.ping', countdown=5)
    # When it is revoked through the API
    response = await api.post(f'/api/v1/task-results/{task_id}/revoke', json={'terminate': False})
    assert response.status_code == 202, response.text
    assert response.json() == {'task_id': task_id, 'terminate': False}
    # Then the worker never runs it and records it as revoked
    celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05, propagate=False)
    result = (await api.get(f'/api/v1/task-results/{task_id}')).json()
    assert result['state'] == 'REVOKED'


async def test_revoke_task_refuses_a_bad_body(api: httpx.AsyncClient) -> None:
    assert_error(await api.post('/api/v1/task-results/x/revoke', json={'terminate': 'maybe'}), 422, 'terminate')


async def test_task_result_routes_refuse_an_id_too_long(api: httpx.AsyncClient) -> None:
    assert_error(await api.get('/api/v1/task-results/' + 'x' * 200), 422, 'task_id')


@pytest.mark.broker
async def test_revoke_task_with_the_broker_down_is_503() -> None:
    async with client_for(create_app(api_settings(), celery=dead_broker_app())) as client:
        response = await client.post('/api/v1/task-results/some-id/revoke', json={'terminate': True})
    assert_error(response, 503, 'The message broker is unreachable')
