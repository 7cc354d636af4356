"""Errors every route shares: the `{code, msg, data}` envelope for unknown paths, wrong methods, bad JSON, hostile
parameters (4xx), and PostgreSQL or the broker down (503, quickly, never a 500)."""

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from backend.core.conf import get_settings
from backend.database.db import dispose_async_engine
from backend.main import create_app
from tests.support.api import api_settings, assert_error, client_for, dead_broker_app


async def test_unknown_path_is_404_in_the_envelope(api: httpx.AsyncClient) -> None:
    assert_error(await api.get('/api/v1/nothing-here'), 404, 'Not Found')


@pytest.mark.parametrize(
    ('method', 'path', 'allowed'),
    [
        ('PUT', '/api/v1/schedules/preview', 'POST'),
        ('PUT', '/api/v1/schedules', 'GET, POST'),
        ('POST', '/api/v1/schedules/5', 'GET, PUT, PATCH, DELETE'),
        ('GET', '/api/v1/dead-letters/purge', 'POST'),
    ],
)
async def test_wrong_method_is_405_naming_every_allowed_one(
    api: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await api.request(method, path)
    assert_error(response, 405)
    assert response.headers['allow'] == allowed


async def test_malformed_json_is_422_naming_the_problem(api: httpx.AsyncClient) -> None:
    response = await api.post(
        '/api/v1/tasks/task.add/send', content=b'{"args": [1,', headers={'content-type': 'application/json'}
    )
    assert_error(response, 422, 'JSON decode error')


async def test_body_that_is_not_utf8_is_400(api: httpx.AsyncClient) -> None:
    body = b'{"args": "\xff"}'
    response = await api.post('/api/v1/tasks/task.add/send', content=body, headers={'content-type': 'application/json'})
    assert_error(response, 400, 'error parsing the body')


@pytest.mark.parametrize(
    ('method', 'path', 'body'),
    [
        ('GET', '/api/v1/monitoring/tasks/failed?name=a%00b', None),
        ('GET', '/api/v1/dead-letters?task_name=%00', None),
        ('POST', '/api/v1/schedules', b'{"name": "a\\u0000b"}'),
        ('POST', '/api/v1/tasks/task.add/send', b'{"args": [1, 2], "kwargs": {"\\\\\\u0000": 1}}'),
    ],
)
async def test_nul_characters_are_refused_with_422(
    api: httpx.AsyncClient, method: str, path: str, body: bytes | None
) -> None:
    response = await api.request(method, path, content=body, headers={'content-type': 'application/json'})
    assert_error(response, 422, 'NUL character')


@pytest.mark.broker
async def test_an_escaped_backslash_before_u0000_is_not_a_nul(api: httpx.AsyncClient, private_queue: str) -> None:
    # The JSON text "\\u0000" is a backslash followed by "u0000", which PostgreSQL stores fine.
    body = b'{"kwargs": {"email": "a@b.co", "name": "\\\\u0000"}, "queue": "' + private_queue.encode() + b'"}'
    url = '/api/v1/tasks/email.send_welcome/send'
    response = await api.post(url, content=body, headers={'content-type': 'application/json'})
    assert response.status_code == 202, response.text


# --- PostgreSQL or the broker down: 503 in the envelope, fast -----------------------------------------------------

A_TASK_ID = '5b0f6f2c-1c1a-4c55-9d61-0f1b3c1f9a11'
INTERVAL = {'kind': 'interval', 'interval_every': 60, 'interval_period': 'seconds'}
NEW_SCHEDULE = {'name': 'api-errors', 'task': 'task.ping', **INTERVAL}
#: Longest an answer about a down service may take.
FAIL_FAST_SECONDS = 15

#: Every route that reads or writes PostgreSQL, with a body it would accept.
DATABASE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ('GET', '/api/v1/schedules', None),
    ('POST', '/api/v1/schedules', NEW_SCHEDULE),
    ('GET', '/api/v1/schedules/1', None),
    ('PUT', '/api/v1/schedules/1', {**NEW_SCHEDULE, 'version': 1}),
    ('PATCH', '/api/v1/schedules/1', {'version': 1, 'interval_every': 30}),
    ('DELETE', '/api/v1/schedules/1', None),
    ('POST', '/api/v1/schedules/1/enable', None),
    ('POST', '/api/v1/schedules/1/disable', None),
    ('POST', '/api/v1/schedules/1/run', None),
    ('GET', '/api/v1/schedules/1/runs', None),
    ('GET', '/api/v1/dead-letters', None),
    ('GET', '/api/v1/dead-letters/1', None),
    ('DELETE', '/api/v1/dead-letters/1', None),
    ('POST', '/api/v1/dead-letters/1/requeue', None),
    ('POST', '/api/v1/dead-letters/purge?all=true', {}),
    ('GET', f'/api/v1/task-results/{A_TASK_ID}', None),
    ('GET', '/api/v1/monitoring/tasks/failed', None),
    ('GET', '/api/v1/monitoring/tasks/slow', None),
    ('GET', '/metrics', None),
]


@asynccontextmanager
async def api_with_database(**environ: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API (and its result backend) with these DATABASE_* variables."""
    from backend.app.task.celery import create_celery_app

    await dispose_async_engine()  # the loop's engine still points at the run's database
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        settings = api_settings()
        async with client_for(create_app(settings, celery=create_celery_app(settings))) as client:
            yield client
        await dispose_async_engine()
    get_settings.cache_clear()


@pytest.fixture
async def database_down() -> AsyncIterator[httpx.AsyncClient]:
    async with api_with_database(DATABASE_PORT='1') as client:
        yield client


@pytest.mark.parametrize(('method', 'path', 'body'), DATABASE_ROUTES, ids=lambda value: str(value)[:40])
async def test_every_database_route_answers_503_with_postgresql_down(
    database_down: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    started = time.monotonic()
    response = await database_down.request(method, path, json=body)
    assert_error(response, 503, 'The database is unreachable')
    assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert '127.0.0.1' not in response.text


@pytest.mark.parametrize('path', ['/api/v1/schedules', '/api/v1/dead-letters', f'/api/v1/task-results/{A_TASK_ID}'])
async def test_a_database_not_migrated_is_503_saying_so(path: str) -> None:
    # The maintenance database exists on every server and has none of our tables.
    async with api_with_database(DATABASE_NAME='postgres') as client:
        assert_error(await client.get(path), 503, 'The database is not migrated')


async def test_health_answers_503_with_postgresql_down(database_down: httpx.AsyncClient) -> None:
    response = await database_down.get('/api/v1/monitoring/health')
    assert response.status_code == 503, response.text


@pytest.fixture
def dead_letter(pg: psycopg.Connection) -> Iterator[int]:
    """A dead letter a broker-down request may try to requeue."""
    row = pg.execute(
        'INSERT INTO task_dead_letter (task_id, task_name, args, kwargs, reason) '
        "VALUES (gen_random_uuid()::text, 'task.ping', '[]', '{}', 'non_retryable') RETURNING id"
    ).fetchone()
    assert row is not None
    yield row[0]
    pg.execute('DELETE FROM task_dead_letter WHERE id = %s', [row[0]])


#: Every route that talks to the broker, with a body it would accept. (`POST /schedules/{id}/run` publishes with the
#: process's Celery app, which an in-process test cannot point at a dead broker; `fba schedule run-now` is tested.)
BROKER_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ('POST', '/api/v1/tasks/task.ping/send', {}),
    ('POST', '/api/v1/tasks/task.ping/send-batch', {'items': [{}, {}]}),
    ('POST', f'/api/v1/task-results/{A_TASK_ID}/revoke', None),
    ('POST', '/api/v1/dead-letters/{dead_letter}/requeue', None),
    ('GET', '/api/v1/monitoring/queues', None),
    ('GET', '/api/v1/monitoring/workers', None),
]
#: Routes that need neither (or answer for both in their own shape, as the health check does).
OTHER_ROUTES = [
    ('GET', '/api/v1/tasks'),
    ('POST', '/api/v1/schedules/preview'),
    ('GET', '/api/v1/monitoring/health'),
    ('POST', '/api/v1/schedules/1/run'),
]


def test_the_outage_tests_cover_every_route() -> None:
    listed = [(method, path) for method, path, _ in DATABASE_ROUTES + BROKER_ROUTES] + OTHER_ROUTES
    for route in create_app(api_settings()).routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            scopes = ({'type': 'http', 'method': m, 'path': p.partition('?')[0]} for m, p in listed if m == method)
            assert any(route.matches(scope)[0] is Match.FULL for scope in scopes), f'{method} {route.path} not tested'


@pytest.mark.broker
@pytest.mark.parametrize(('method', 'path', 'body'), BROKER_ROUTES, ids=lambda value: str(value)[:40])
async def test_every_broker_route_answers_503_with_the_broker_down(
    dead_letter: int, method: str, path: str, body: dict[str, Any] | None
) -> None:
    path = path.replace('{dead_letter}', str(dead_letter))
    started = time.monotonic()
    async with client_for(create_app(api_settings(), celery=dead_broker_app())) as client:
        response = await client.request(method, path, json=body)
    await dispose_async_engine()
    body_ = assert_error(response, 503)
    assert 'broker' in body_['msg']
    assert time.monotonic() - started < FAIL_FAST_SECONDS


# --- Hostile path and query parameters: 4xx, never 500 -------------------------------------------------------------

TOO_BIG = str(2**63)


@pytest.mark.parametrize(
    'path',
    [
        f'/api/v1/schedules/{TOO_BIG}',
        f'/api/v1/schedules/{TOO_BIG}/runs',
        f'/api/v1/dead-letters/{TOO_BIG}',
        '/api/v1/schedules/0',
        '/api/v1/schedules/-1',
        '/api/v1/schedules/abc',
        '/api/v1/dead-letters/1e3',
        '/api/v1/schedules?limit=-1',
        '/api/v1/schedules?limit=0',
        '/api/v1/schedules?limit=1000000',
        f'/api/v1/schedules?limit={TOO_BIG}',
        '/api/v1/schedules?offset=-1',
        f'/api/v1/schedules?offset={TOO_BIG}',
        '/api/v1/schedules?enabled=maybe',
        '/api/v1/schedules/1/runs?limit=-5',
        '/api/v1/dead-letters?limit=-1',
        f'/api/v1/dead-letters?offset={TOO_BIG}',
        '/api/v1/dead-letters?failed_after=yesterday',
        '/api/v1/dead-letters?reason=bored',
        '/api/v1/monitoring/tasks/failed?limit=-1',
        '/api/v1/monitoring/tasks/slow?min_runtime=-1',
        '/api/v1/monitoring/tasks/slow?min_runtime=1e400',
        '/api/v1/monitoring/tasks/slow?min_runtime=nan',
        '/api/v1/tasks?name=' + 'n' * 300,
        '/api/v1/task-results/' + 'x' * 300,
    ],
)
async def test_hostile_parameters_are_4xx_in_the_envelope(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()['code'] == response.status_code
