"""Errors every route shares: the `{code, msg, data}` envelope for unknown paths, wrong methods, bad JSON."""

import httpx
import pytest

from tests.support.api import assert_error


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
    body = b'{"args": ["\\\\u0000", 1], "queue": "' + private_queue.encode() + b'"}'
    response = await api.post('/api/v1/tasks/task.add/send', content=body, headers={'content-type': 'application/json'})
    assert response.status_code == 202, response.text
