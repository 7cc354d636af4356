"""`POST /tasks/{name}/send` through the app's shared publisher: concurrent requests share one connection and its
confirm waits, a worker runs exactly what was sent, and a broker that goes away fails every waiting request."""

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend.app.task.messaging import dispatch
from backend.core.conf import get_settings
from backend.main import create_app
from tests.integration.test_send_batch import queued
from tests.support import secret_tasks
from tests.support.api import api_settings, assert_error, client_for, dead_broker_app
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker

CONCURRENT = 60
#: The confirm timeout while a test's broker stops answering.
STALL_TIMEOUT = 2.0


async def test_concurrent_sends_are_all_confirmed_and_run_by_a_worker(
    api: httpx.AsyncClient, worker: WorkerProcess, celery_app: Any
) -> None:
    # When many calls are sent at once, each its own request
    responses = await asyncio.gather(
        *(api.post('/api/v1/tasks/task.add/send', json={'args': [i, 1000]}) for i in range(CONCURRENT))
    )
    # Then every one is accepted with its own id, and the worker runs each with its own arguments
    assert [r.status_code for r in responses] == [202] * CONCURRENT, [r.text for r in responses if r.is_error]
    task_ids = [r.json()['task_id'] for r in responses]
    assert len(set(task_ids)) == CONCURRENT
    results = [celery_app.AsyncResult(t).get(timeout=30, interval=0.05) for t in task_ids]
    assert results == [i + 1000 for i in range(CONCURRENT)]


async def test_a_worker_runs_what_the_api_sent_with_the_secrets_masked_in_its_headers(
    api: httpx.AsyncClient, make_worker: Any, private_queue: str, celery_app: Any
) -> None:
    # Given a worker that knows a task with secret-looking parameters
    make_worker(queues=private_queue, extra_args=['--include', 'tests.support.secret_tasks'])
    body = {
        'args': ['ann', secret_tasks.PASSWORD],
        'kwargs': {'api_key': secret_tasks.API_KEY},
        'queue': private_queue,
        'priority': 3,
    }
    # When a call is sent through the API
    response = await api.post('/api/v1/tasks/test.secret_login/send', json=body)
    assert response.status_code == 202, response.text
    # Then the worker runs it with the arguments as sent, and the headers it saw hold no secret
    result = celery_app.AsyncResult(response.json()['task_id']).get(timeout=30, interval=0.05)
    assert result['user'] == 'ann' and result['token'] == secret_tasks.TOKEN
    assert result['headers'] == ["['ann', '***']", "{'api_key': '***'}"]


async def test_every_waiting_request_gets_503_when_the_broker_does_not_answer() -> None:
    async with client_for(create_app(api_settings(), celery=dead_broker_app())) as client:
        responses = await asyncio.gather(*(client.post('/api/v1/tasks/task.ping/send', json={}) for _ in range(10)))
    for response in responses:
        assert_error(response, 503, 'The broker did not accept task task.ping', 'Nothing was sent')


@contextlib.asynccontextmanager
async def proxied_client(celery_app: Any) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient]]:
    """An API client whose app's broker connections pass through a proxy the test controls (cut at the end)."""
    from backend.app.task.celery import create_celery_app

    settings = get_settings()
    proxy = TcpProxy(settings.REDIS_PORT if os.environ['CELERY_BROKER'] == 'redis' else settings.CELERY_RABBITMQ_PORT)
    app = create_celery_app(api_settings(CELERY_RABBITMQ_PORT=proxy.port, REDIS_PORT=proxy.port))
    app.conf.task_queues = celery_app.conf.task_queues
    try:
        async with client_for(create_app(api_settings(), celery=app)) as client:
            yield proxy, client
    finally:
        proxy.cut()


async def test_a_send_after_the_broker_dropped_the_connection_goes_out_on_a_new_one(
    celery_app: Any, private_queue: str
) -> None:
    send = {'args': [1, 2], 'queue': private_queue}
    async with proxied_client(celery_app) as (proxy, client):
        assert (await client.post('/api/v1/tasks/task.add/send', json=send)).status_code == 202
        # When the broker closes the publisher's connection between two sends (e.g. it restarted)
        proxy.drop()
        # Then the next send is made on a new connection, and confirmed
        response = await client.post('/api/v1/tasks/task.add/send', json=send)
    assert response.status_code == 202, response.text
    assert queued(celery_app, private_queue) == 2


async def test_requests_waiting_when_the_broker_goes_away_all_get_503_and_none_of_them_was_sent(
    celery_app: Any, private_queue: str
) -> None:
    # Given an API whose broker connection passes through a proxy, and one call sent and confirmed through it
    send = {'args': [1, 2], 'queue': private_queue}
    async with proxied_client(celery_app) as (proxy, client):
        first = await client.post('/api/v1/tasks/task.add/send', json=send)
        assert first.status_code == 202, first.text
        # When the broker stops answering while requests wait for their confirms, and then goes away
        proxy.stall()
        waiting = [asyncio.create_task(client.post('/api/v1/tasks/task.add/send', json=send)) for _ in range(10)]
        await asyncio.to_thread(wait_for, lambda: proxy.held, what='a window sent into the stalled proxy')
        assert not any(request.done() for request in waiting)
        proxy.cut()
        responses = await asyncio.gather(*waiting)
    # Then every waiting request is a 503, and the broker holds only the call that was reported sent
    for response in responses:
        assert_error(response, 503, 'The broker did not accept task task.add', 'Nothing was sent')
    assert queued(celery_app, private_queue) == 1


async def test_requests_to_a_broker_that_stops_answering_get_503_once_the_confirm_timeout_has_passed(
    celery_app: Any, private_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, 'CONFIRM_TIMEOUT', STALL_TIMEOUT)
    send = {'args': [1, 2], 'queue': private_queue}
    async with proxied_client(celery_app) as (proxy, client):
        # Given a publisher connected to a broker that then stops answering, without closing the connection
        assert (await client.post('/api/v1/tasks/task.add/send', json=send)).status_code == 202
        proxy.stall()
        # When a call is sent to it
        started = time.monotonic()
        response = await asyncio.wait_for(client.post('/api/v1/tasks/task.add/send', json=send), timeout=60)
        # Then it gets a 503 saying it may have been queued once the confirm timeout has passed, and not a close
        # handshake later (which the broker would never answer: bounded by the timeout again, per channel and
        # connection)
        assert time.monotonic() - started < 2.5 * STALL_TIMEOUT
        assert_error(response, 503, 'The broker did not confirm task task.add', 'may or may not have been queued')
        # And the publisher serves the next call on a new connection once the broker answers again
        proxy.flow()
        response = await client.post('/api/v1/tasks/task.add/send', json=send)
    assert response.status_code == 202, response.text
