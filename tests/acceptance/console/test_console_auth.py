"""Console sign-in, sessions and CSRF: no page without a session, no write without this session's token."""

import time

import httpx
import psycopg
import pytest

from backend.app.task.console.session import SESSION_COOKIE, new_session_cookie
from tests.support.api import OTHER_TOKEN, TOKEN
from tests.support.console import csrf_token, hidden_value, sign_in

PAGES = [
    '/console',
    '/console/live',
    '/console/tasks',
    '/console/tasks/task.add',
    '/console/results',
    '/console/results/some-task-id',
    '/console/results/some-task-id/state',
    '/console/schedules',
    '/console/schedules/new',
    '/console/schedules/preview?kind=interval&interval_every=5',
    '/console/schedules/1',
    '/console/schedules/1/runs',
    '/console/schedules/1/edit',
    '/console/schedules/1/delete',
    '/console/dead-letters',
    '/console/dead-letters/1',
    '/console/dead-letters/purge?task_name=task.add',
]


@pytest.mark.parametrize('path', PAGES)
async def test_console_page_without_session_redirects_to_sign_in(visitor: httpx.AsyncClient, path: str) -> None:
    response = await visitor.get(path)
    assert response.status_code == 303
    assert response.headers['location'].startswith('/console/sign-in?next=%2Fconsole')


async def test_console_sign_in_sets_a_strict_http_only_session_and_goes_to_next(visitor: httpx.AsyncClient) -> None:
    response = await sign_in(visitor, next_='/console/schedules?kind=crontab')
    assert response.status_code == 303
    assert response.headers['location'] == '/console/schedules?kind=crontab'
    cookie = next(v for v in response.headers.get_list('set-cookie') if v.startswith(f'{SESSION_COOKIE}='))
    assert 'HttpOnly' in cookie and 'SameSite=strict' in cookie and 'Path=/console' in cookie
    assert TOKEN not in cookie
    assert (await visitor.get('/console')).status_code == 200


async def test_console_sign_in_refuses_a_wrong_token_and_an_open_redirect(visitor: httpx.AsyncClient) -> None:
    wrong = await sign_in(visitor, token='not-a-token-at-all-000')
    assert wrong.status_code == 401 and 'not one of the API tokens' in wrong.text
    assert SESSION_COOKIE not in visitor.cookies
    away = await sign_in(visitor, next_='https://evil.example/console')
    assert away.status_code == 303 and away.headers['location'] == '/console'


async def test_console_sign_in_form_needs_its_own_token(visitor: httpx.AsyncClient) -> None:
    await visitor.get('/console/sign-in')
    response = await visitor.post('/console/sign-in', data={'token': TOKEN, 'sign_in_token': 'forged'})
    assert response.status_code == 403
    assert SESSION_COOKIE not in visitor.cookies


@pytest.mark.parametrize(
    'cookie',
    [
        'garbage',
        f'{int(time.time()) + 3600}.nonce.{"0" * 64}',  # forged signature
        new_session_cookie(TOKEN, now=time.time() - 9 * 3600),  # expired
        new_session_cookie('a-token-no-longer-configured'),  # token withdrawn from API_TOKENS
    ],
    # Fixed names: the cookies hold the time and random bytes, and pytest-xdist's processes must collect the same ids.
    ids=['garbage', 'forged', 'expired', 'withdrawn'],
)
async def test_console_refuses_a_forged_expired_or_withdrawn_session(visitor: httpx.AsyncClient, cookie: str) -> None:
    visitor.cookies.set(SESSION_COOKIE, cookie, path='/console')
    assert (await visitor.get('/console/tasks')).status_code == 303


async def test_console_session_of_any_configured_token_works(visitor: httpx.AsyncClient) -> None:
    visitor.cookies.set(SESSION_COOKIE, new_session_cookie(OTHER_TOKEN), path='/console')
    assert (await visitor.get('/console/tasks')).status_code == 200


async def test_console_sign_out_ends_the_session(console: httpx.AsyncClient) -> None:
    response = await console.post('/console/sign-out', data={'csrf_token': await csrf_token(console)})
    assert response.status_code == 303 and response.headers['location'] == '/console/sign-in'
    assert (await console.get('/console/tasks')).status_code == 303


WRITES = [
    '/console/sign-out',
    '/console/tasks/task.add/send',
    '/console/schedules',
    '/console/schedules/{id}',
    '/console/schedules/{id}/enable',
    '/console/schedules/{id}/disable',
    '/console/schedules/{id}/run',
    '/console/schedules/{id}/delete',
    '/console/dead-letters/purge',
    '/console/dead-letters/requeue',
    '/console/dead-letters/1/requeue',
]


@pytest.mark.parametrize('path', WRITES)
@pytest.mark.parametrize(
    ('token', 'headers'),
    [
        (None, {}),
        ('wrong', {}),
        ('valid', {'Sec-Fetch-Site': 'cross-site'}),
        ('valid', {'Origin': 'https://evil.example'}),
    ],
    ids=['no-token', 'wrong-token', 'cross-site', 'other-origin'],
)
async def test_console_write_is_refused_without_this_sessions_token_or_from_another_site(
    console: httpx.AsyncClient,
    pg: psycopg.Connection,
    schedule_id: int,
    path: str,
    token: str | None,
    headers: dict[str, str],
) -> None:
    form = {'name': 'x', 'task': 'task.ping', 'kind': 'interval', 'interval_every': '5', 'task_name': 'task.add'}
    if token is not None:
        form['csrf_token'] = await csrf_token(console) if token == 'valid' else 'f' * 64
    response = await console.post(path.format(id=schedule_id), data=form, headers=headers)
    assert response.status_code == 403, response.text
    assert 'security token' in response.text or 'another' in response.text
    # Nothing happened: the schedule is as it was and the session still works.
    assert pg.execute('SELECT version, enabled FROM task_schedule WHERE id = %s', (schedule_id,)).fetchone() == (
        1,
        True,
    )
    assert pg.execute('SELECT count(*) FROM task_schedule').fetchone() == (1,)
    assert (await console.get('/console/tasks')).status_code == 200


async def test_console_csrf_token_is_also_taken_from_the_header(console: httpx.AsyncClient, schedule_id: int) -> None:
    token = await csrf_token(console)
    response = await console.post(f'/console/schedules/{schedule_id}/disable', headers={'X-CSRF-Token': token})
    assert response.status_code == 303


async def test_console_pages_carry_a_strict_content_security_policy(console: httpx.AsyncClient) -> None:
    response = await console.get('/console')
    assert "script-src 'self'" in response.headers['content-security-policy']
    assert response.headers['cache-control'] == 'no-store'
    assert hidden_value(response.text, 'csrf_token')
    for asset in ('/console/static/console.js', '/console/static/console.css'):
        static = await console.get(asset)
        assert static.status_code == 200 and 'http' not in static.text  # nothing from a CDN
