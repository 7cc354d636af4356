"""`/api/v1/schedules`: create, read, edit on `version`, enable/disable, run now, runs, preview, delete."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import psycopg
import pytest

from tests.acceptance.test_cli import fba
from tests.support.api import assert_error
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

# Only the tests that send through the broker run once per broker kind (marked broker); the rest is API + PostgreSQL.

HOURLY = {'task': 'task.ping', 'kind': 'interval', 'interval_every': 1, 'interval_period': 'hours'}


@pytest.fixture
async def schedule(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post('/api/v1/schedules', json={'name': f'hourly-{uuid.uuid4().hex[:8]}', **HOURLY})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_schedule_plans_the_next_run(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    assert schedule['enabled'] is True and schedule['source'] == 'api' and schedule['next_run_at'] is not None
    assert (await api.get(f'/api/v1/schedules/{schedule["id"]}')).json() == schedule


@pytest.mark.parametrize(
    ('body', 'fragment'),
    [
        ({**HOURLY, 'task': 'no.such_task'}, "No task named 'no.such_task'"),
        ({**HOURLY, 'kind': 'crontab', 'crontab': 'not a cron'}, ''),
        ({**HOURLY, 'name': ''}, 'body.name'),
        ({'name': 'x', 'task': 'task.ping'}, 'body.kind'),
    ],
)
async def test_create_schedule_refuses_a_spec_that_cannot_run_with_422(
    api: httpx.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    assert_error(await api.post('/api/v1/schedules', json={'name': 'bad', **body}), 422, fragment)


async def test_create_schedule_with_a_taken_name_is_409(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    response = await api.post('/api/v1/schedules', json={'name': schedule['name'], **HOURLY})
    assert_error(response, 409, 'already exists')


async def test_list_schedules_filters_and_pages(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    # Given a disabled schedule besides the enabled one
    other = (await api.post('/api/v1/schedules', json={**HOURLY, 'name': f'off-{uuid.uuid4().hex[:8]}'})).json()
    await api.post(f'/api/v1/schedules/{other["id"]}/disable')
    # Then each filter picks its own
    enabled = (await api.get('/api/v1/schedules', params={'enabled': True, 'task': 'task.ping', 'limit': 100})).json()
    disabled = (await api.get('/api/v1/schedules', params={'enabled': False, 'limit': 100})).json()
    assert schedule['id'] in {s['id'] for s in enabled['items']} and other['id'] not in {
        s['id'] for s in enabled['items']
    }
    assert other['id'] in {s['id'] for s in disabled['items']}
    page = (await api.get('/api/v1/schedules', params={'limit': 1})).json()
    assert len(page['items']) == 1 and page['total'] >= 2


async def test_get_schedule_unknown_is_404(api: httpx.AsyncClient) -> None:
    assert_error(await api.get('/api/v1/schedules/999999999'), 404, 'No schedule has id 999999999')


async def test_update_schedule_needs_the_current_version(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    # Given a schedule read at some version, when it is replaced with that version
    url = f'/api/v1/schedules/{schedule["id"]}'
    body = {**HOURLY, 'name': schedule['name'], 'interval_every': 2, 'version': schedule['version']}
    response = await api.put(url, json=body)
    # Then the change is stored under a new version, and a second write with the old version is refused
    assert response.status_code == 200, response.text
    assert response.json()['interval_every'] == 2 and response.json()['version'] > schedule['version']
    assert_error(await api.put(url, json=body), 409, 'changed since you read it')
    assert_error(await api.put('/api/v1/schedules/999999999', json=body), 404)


async def test_patch_schedule_changes_only_the_fields_given(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    url = f'/api/v1/schedules/{schedule["id"]}'
    response = await api.patch(url, json={'version': schedule['version'], 'description': 'nightly report'})
    assert response.status_code == 200, response.text
    assert response.json()['description'] == 'nightly report' and response.json()['interval_every'] == 1
    assert_error(await api.patch(url, json={'version': schedule['version'], 'description': 'x'}), 409)
    assert_error(await api.patch(url, json={'description': 'x'}), 422, 'body.version')


async def test_disable_and_enable_schedule(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    disabled = (await api.post(f'/api/v1/schedules/{schedule["id"]}/disable')).json()
    assert disabled['enabled'] is False and disabled['next_run_at'] is None
    enabled = (await api.post(f'/api/v1/schedules/{schedule["id"]}/enable')).json()
    assert enabled['enabled'] is True and enabled['next_run_at'] is not None
    assert_error(await api.post('/api/v1/schedules/999999999/enable'), 404)
    assert_error(await api.post('/api/v1/schedules/999999999/disable'), 404)


@pytest.mark.broker
async def test_run_schedule_now_sends_its_task_and_records_the_run(
    api: httpx.AsyncClient, schedule: dict[str, Any], worker: WorkerProcess, celery_app: Any
) -> None:
    # When a schedule is run now
    response = await api.post(f'/api/v1/schedules/{schedule["id"]}/run')
    # Then its task runs on a worker and the run is listed
    assert response.status_code == 202, response.text
    run = response.json()
    assert run['trigger'] == 'manual' and run['dispatched_at'] is not None
    assert celery_app.AsyncResult(run['task_id']).get(timeout=30, interval=0.05) == 'pong'
    runs = (await api.get(f'/api/v1/schedules/{schedule["id"]}/runs')).json()
    assert [r['task_id'] for r in runs['items']] == [run['task_id']] and runs['total'] == 1
    assert_error(await api.post('/api/v1/schedules/999999999/run'), 404)
    assert_error(await api.get('/api/v1/schedules/999999999/runs'), 404)


async def test_preview_schedule_lists_the_next_fire_times(api: httpx.AsyncClient) -> None:
    body = {'kind': 'interval', 'interval_every': 15, 'interval_period': 'minutes', 'count': 3}
    response = await api.post('/api/v1/schedules/preview', json=body)
    assert response.status_code == 200, response.text
    times = [datetime.fromisoformat(t) for t in response.json()]
    assert len(times) == 3 and all(b - a == timedelta(minutes=15) for a, b in pairwise(times))
    assert_error(await api.post('/api/v1/schedules/preview', json={**body, 'count': 1000}), 422, 'body.count')


async def test_delete_schedule_removes_it(api: httpx.AsyncClient, schedule: dict[str, Any]) -> None:
    assert (await api.delete(f'/api/v1/schedules/{schedule["id"]}')).status_code == 204
    assert_error(await api.get(f'/api/v1/schedules/{schedule["id"]}'), 404)
    assert_error(await api.delete(f'/api/v1/schedules/{schedule["id"]}'), 404)


def secret_login_schedule(queue: str) -> dict[str, Any]:
    """A schedule of a task with a secret positional and a secret keyword argument."""
    from tests.support.secret_tasks import API_KEY, PASSWORD

    return {
        **HOURLY,
        'name': f'login-{uuid.uuid4().hex[:8]}',
        'task': 'test.secret_login',
        'args': ['ann', PASSWORD],
        'kwargs': {'api_key': API_KEY, 'mode': 'ok'},
        'queue': queue,
    }


@pytest.mark.broker
async def test_schedule_arguments_are_stored_as_given_shown_masked_and_sent_real(
    api: httpx.AsyncClient, pg: psycopg.Connection, celery_app: Any, private_queue: str
) -> None:
    from tests.support.secret_tasks import API_KEY, PASSWORD

    # Given a schedule of a task with a secret positional and a secret keyword argument
    body = secret_login_schedule(private_queue)
    created = await api.post('/api/v1/schedules', json=body)
    assert created.status_code == 201, created.text
    pk = created.json()['id']
    # Then every answer shows it masked: create, read, list, patch, and `fba schedule show`
    answers = [
        created,
        await api.get(f'/api/v1/schedules/{pk}'),
        await api.get('/api/v1/schedules', params={'task': 'test.secret_login'}),
        await api.patch(f'/api/v1/schedules/{pk}', json={'version': created.json()['version'], 'description': 'x'}),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200]
    shown_call = answers[1].json()['args'], answers[1].json()['kwargs']
    assert shown_call == (['ann', '***'], {'api_key': '***', 'mode': 'ok'})
    shown = await asyncio.to_thread(fba, 'schedule', 'show', str(pk))
    assert shown.returncode == 0 and '"api_key": "***"' in shown.stdout, shown.stderr
    texts = [answer.text for answer in answers] + [shown.stdout]
    assert not [text for text in texts if PASSWORD in text or API_KEY in text]
    # And the row keeps the real values, which a run sends in the message body (its headers masked)
    row = pg.execute('SELECT args, kwargs FROM task_schedule WHERE id = %s', [pk]).fetchone()
    assert row == (['ann', PASSWORD], {'api_key': API_KEY, 'mode': 'ok'})
    with celery_app.connection_for_read() as conn:
        queue = celery_app.amqp.queues[private_queue](conn.default_channel)
        queue.declare()
        assert (await api.post(f'/api/v1/schedules/{pk}/run')).status_code == 202
        message = wait_for(lambda: queue.get(no_ack=True), timeout=10, what='the run message')
        queue.delete()
    assert json.loads(message.body)[:2] == [['ann', PASSWORD], {'api_key': API_KEY, 'mode': 'ok'}]
    assert message.headers['argsrepr'] == "['ann', '***']"


HUGE = 10**30
CRON = {'task': 'task.ping', 'kind': 'crontab', 'crontab': '0 3 * * *'}


@pytest.mark.parametrize(
    ('body', 'fragment'),
    [
        ({**HOURLY, 'interval_every': HUGE}, 'body.interval_every'),
        ({**HOURLY, 'interval_every': 2**31}, 'body.interval_every'),
        ({**HOURLY, 'interval_every': 2**31 - 1, 'interval_period': 'days'}, 'at most 100 years'),
        ({**HOURLY, 'misfire_grace_seconds': HUGE}, 'body.misfire_grace_seconds'),
        ({**HOURLY, 'max_runs': HUGE}, 'body.max_runs'),
        ({**HOURLY, 'expire_seconds': HUGE}, 'body.expire_seconds'),
        ({**HOURLY, 'priority': HUGE}, 'body.priority'),
        ({**CRON, 'crontab': '٣ * * * *'}, "Crontab minute field '٣'"),
        ({**CRON, 'crontab': '0 \uff13 * * *'}, "Crontab hour field '\uff13'"),
        ({**CRON, 'crontab': '² * * * *'}, "Crontab minute field '²'"),
        ({**CRON, 'timezone': 'America'}, "Time zone 'America' is not an IANA zone"),
        ({**HOURLY, 'name': 'n' * 201}, 'body.name'),
        ({**HOURLY, 'task': 't' * 156}, 'body.task'),
        ({**HOURLY, 'kind': 'clocked', 'clocked_at': '9999-12-31T23:59:59-14:00'}, 'body.clocked_at'),
        ({**HOURLY, 'start_at': '0001-01-01T00:00:00+14:00'}, 'body.start_at'),
        ({**HOURLY, 'args': [1]}, 'Arguments do not fit task task.ping: too many positional arguments'),
        ({**HOURLY, 'task': 'task.add', 'kwargs': {'x': 1}}, "missing a required argument: 'y'"),
        (
            {**HOURLY, 'task': 'email.send_welcome', 'kwargs': {'email': 'a@b.co', 'name': ''}},
            'name: String should have at least 1 character',
        ),
        ({**HOURLY, 'queue': 'nobody-reads'}, "queue: 'nobody-reads' is not declared in TASK_QUEUES"),
    ],
)
async def test_create_schedule_checks_like_a_send_and_within_the_columns(
    api: httpx.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    assert_error(await api.post('/api/v1/schedules', json={'name': 'hostile', **body}), 422, fragment)


@pytest.mark.parametrize(
    ('change', 'fragment'),
    [
        ({'interval_every': HUGE}, 'body.interval_every'),
        ({'args': [1, 2]}, 'Arguments do not fit task task.ping'),
        ({'queue': 'nobody-reads'}, "queue: 'nobody-reads'"),
        ({'name': None}, 'name cannot be null'),
        ({'kwargs': None, 'enabled': None}, 'kwargs, enabled cannot be null'),
        ({'kind': 'crontab', 'crontab': '0 0 ٣ * *'}, "Crontab day of month field '٣'"),
    ],
)
async def test_patch_schedule_checks_like_create(
    api: httpx.AsyncClient, schedule: dict[str, Any], change: dict[str, Any], fragment: str
) -> None:
    url = f'/api/v1/schedules/{schedule["id"]}'
    assert_error(await api.patch(url, json={'version': schedule['version'], **change}), 422, fragment)
    assert (await api.get(url)).json() == schedule


async def test_schedule_ids_beyond_bigint_are_422_not_500(api: httpx.AsyncClient) -> None:
    for method in ('get', 'delete'):
        assert_error(await getattr(api, method)(f'/api/v1/schedules/{HUGE}'), 422, 'path.pk')
    assert_error(await api.post(f'/api/v1/schedules/{HUGE}/enable'), 422, 'path.pk')


async def test_a_row_beat_disabled_shows_its_reason_until_enabled_again(
    api: httpx.AsyncClient, schedule: dict[str, Any], pg: psycopg.Connection
) -> None:
    # Given a schedule beat disabled (as it does with a row it cannot plan)
    url = f'/api/v1/schedules/{schedule["id"]}'
    pg.execute(
        "UPDATE task_schedule SET enabled = false, disabled_reason = 'Crontab broken.' WHERE id = %s", [schedule['id']]
    )
    # Then the API shows why, in the schedule and in the list
    assert (await api.get(url)).json()['disabled_reason'] == 'Crontab broken.'
    listed = (await api.get('/api/v1/schedules', params={'enabled': False, 'limit': 100})).json()['items']
    assert [s['disabled_reason'] for s in listed if s['id'] == schedule['id']] == ['Crontab broken.']
    # And enabling it through the API (which checks it again) clears the reason
    enabled = (await api.post(f'{url}/enable')).json()
    assert (enabled['enabled'], enabled['disabled_reason']) == (True, None)


async def test_an_edit_sending_back_the_masked_arguments_keeps_the_stored_secrets(
    api: httpx.AsyncClient, pg: psycopg.Connection, private_queue: str
) -> None:
    from tests.support.secret_tasks import API_KEY, PASSWORD

    # Given a schedule with secrets, read back masked
    body = secret_login_schedule(private_queue)
    shown = (await api.post('/api/v1/schedules', json=body)).json()
    # When an edit sends the masked call back with one visible value changed
    edited = await api.patch(
        f'/api/v1/schedules/{shown["id"]}',
        json={'version': shown['version'], 'args': ['bob', '***'], 'kwargs': {**shown['kwargs'], 'mode': 'fail'}},
    )
    assert edited.status_code == 200, edited.text
    # Then the secrets stay as stored and the change is applied
    row = pg.execute('SELECT args, kwargs FROM task_schedule WHERE id = %s', [shown['id']]).fetchone()
    assert row == (['bob', PASSWORD], {'api_key': API_KEY, 'mode': 'fail'})
