"""Console writes do what they say, through the same services as the API: schedules, sends, dead letters."""

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.beat import QueueProbe
from tests.support.console import csrf_token, insert_dead_letter
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

CRONTAB_FORM = {
    'name': 'weekday-report',
    'task': 'task.ping',
    'kind': 'crontab',
    'crontab': '30 9 * * mon-fri',
    'timezone': 'Europe/Berlin',
    'interval_every': '60',
    'interval_period': 'seconds',
    'args': '[]',
    'kwargs': '{}',
    'enabled': 'on',
}


async def post(client: httpx.AsyncClient, path: str, form: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(path, data={**(form or {}), 'csrf_token': await csrf_token(client)})


async def test_console_creates_a_crontab_schedule_in_its_zone(
    console: httpx.AsyncClient, pg: psycopg.Connection
) -> None:
    pg.execute('DELETE FROM task_schedule')
    response = await post(console, '/console/schedules', CRONTAB_FORM)
    assert response.status_code == 303, response.text
    row = pg.execute('SELECT id, kind, crontab, timezone, enabled, interval_every FROM task_schedule').fetchone()
    assert row is not None and row[1:] == ('crontab', '30 9 * * mon-fri', 'Europe/Berlin', True, None)
    assert response.headers['location'] == f'/console/schedules/{row[0]}'
    page = await console.get(response.headers['location'])
    assert 'weekday-report' in page.text and 'No run yet' in page.text


@pytest.mark.parametrize(
    ('change', 'fragment'),
    [
        ({'crontab': '61 9 * * *'}, 'class="problem"'),
        ({'timezone': 'Mars/Base'}, 'not an IANA zone'),
        ({'kind': 'interval', 'interval_every': 'often'}, 'id="interval_every-error">must be a whole number'),
        ({'name': ''}, 'id="name-error">Field required'),
        ({'kwargs': '{not json'}, 'id="kwargs-error">is not valid JSON'),
    ],
)
async def test_console_refuses_a_bad_schedule_naming_the_field(
    console: httpx.AsyncClient, pg: psycopg.Connection, change: dict[str, str], fragment: str
) -> None:
    pg.execute('DELETE FROM task_schedule')
    response = await post(console, '/console/schedules', {**CRONTAB_FORM, **change})
    assert response.status_code == 422
    assert fragment in response.text, response.text
    assert 'value="weekday-report"' in response.text or change.get('name') == ''  # what was typed is kept
    assert pg.execute('SELECT count(*) FROM task_schedule').fetchone() == (0,)


@pytest.mark.parametrize(
    ('path', 'form'),
    [('/console/schedules', {**CRONTAB_FORM, 'name': 'a\x00b'}), ('/console/tasks/task.add/send', {'x': '1\x00'})],
)
async def test_console_refuses_a_nul_character_naming_the_field(
    console: httpx.AsyncClient, path: str, form: dict[str, str]
) -> None:
    response = await post(console, path, form)
    assert response.status_code == 422
    assert 'may not contain the NUL character' in response.text and ('name:' in response.text or 'x:' in response.text)


async def test_console_edit_saves_and_a_stale_edit_gets_the_conflict_message(
    console: httpx.AsyncClient, pg: psycopg.Connection, schedule_id: int
) -> None:
    form = {**CRONTAB_FORM, 'name': 'nightly-ping', 'crontab': '15 4 * * *', 'version': '1', 'queue': ''}
    saved = await post(console, f'/console/schedules/{schedule_id}', form)
    assert saved.status_code == 303, saved.text
    row = pg.execute(
        'SELECT crontab, version, queue, priority, misfire_policy FROM task_schedule WHERE id = %s', (schedule_id,)
    ).fetchone()
    # What the form shows is saved (a cleared queue too); what it does not show is kept.
    assert row == ('15 4 * * *', 2, None, 7, 'catch_up')
    stale = await post(console, f'/console/schedules/{schedule_id}', {**form, 'crontab': '0 5 * * *'})
    assert stale.status_code == 409
    assert 'changed since you read it' in stale.text
    edit = await console.get(f'/console/schedules/{schedule_id}/edit')
    assert 'name="version" value="2"' in edit.text and 'value="15 4 * * *"' in edit.text


@pytest.mark.broker
async def test_console_disables_enables_runs_and_deletes_a_schedule(
    console: httpx.AsyncClient, pg: psycopg.Connection, schedule_id: int, private_queue: str, celery_app: Any
) -> None:
    def enabled() -> bool:
        return pg.execute('SELECT enabled FROM task_schedule WHERE id = %s', (schedule_id,)).fetchone()[0]  # type: ignore[index]

    assert (await post(console, f'/console/schedules/{schedule_id}/disable')).status_code == 303
    assert enabled() is False
    assert (await post(console, f'/console/schedules/{schedule_id}/enable')).status_code == 303
    assert enabled() is True
    probe = QueueProbe(celery_app, private_queue)
    try:
        ran = await post(console, f'/console/schedules/{schedule_id}/run')
        assert ran.headers['location'] == f'/console/schedules/{schedule_id}?notice=run'
        run = pg.execute('SELECT task_id, trigger FROM task_schedule_run WHERE schedule_id = %s', (schedule_id,))
        task_id, trigger = run.fetchone()  # type: ignore[misc]
        assert trigger == 'manual'
        wait_for(lambda: task_id in probe.ids(), what='the run-now message on the schedule queue')
        runs = await console.get(f'/console/schedules/{schedule_id}/runs')
        assert 'manual' in runs.text and 'PENDING' in runs.text
    finally:
        probe.close()
    confirm = await console.get(f'/console/schedules/{schedule_id}/delete')
    assert 'cannot be undone' in confirm.text and f'action="/console/schedules/{schedule_id}/delete"' in confirm.text
    assert (await post(console, f'/console/schedules/{schedule_id}/delete')).status_code == 303
    assert pg.execute('SELECT count(*) FROM task_schedule WHERE id = %s', (schedule_id,)).fetchone() == (0,)


@pytest.mark.parametrize(
    ('form', 'fragment'),
    [
        ({'x': '1'}, 'id="y-error">is required'),
        ({'x': 'one', 'y': '2'}, 'id="x-error">must be a number'),
        ({'x': '1', 'y': '2', 'priority': '42'}, 'id="priority-error">'),
    ],
)
async def test_console_send_form_shows_errors_next_to_the_field(
    console: httpx.AsyncClient, form: dict[str, str], fragment: str
) -> None:
    response = await post(console, '/console/tasks/task.add/send', form)
    assert response.status_code == 422
    assert fragment in response.text, response.text


async def test_console_send_form_checks_a_payload_model(console: httpx.AsyncClient) -> None:
    response = await post(console, '/console/tasks/email.send_welcome/send', {'email': 'nobody', 'name': 'Ann'})
    assert response.status_code == 422 and 'id="email-error">String should match pattern' in response.text


@pytest.mark.broker
async def test_console_sends_a_task_and_its_result_page_reaches_success(
    console: httpx.AsyncClient, worker: WorkerProcess
) -> None:
    sent = await post(console, '/console/tasks/task.add/send', {'x': '2', 'y': '40.5'})
    assert sent.status_code == 303, sent.text
    location = sent.headers['location']
    assert location.startswith('/console/results/')

    deadline = time.monotonic() + 60
    while 'SUCCESS' not in (text := (await console.get(f'{location}/state')).text):  # polled as the page does
        assert time.monotonic() < deadline, f'the result page never reached SUCCESS:\n{text}'
        await asyncio.sleep(0.1)
    assert 'SUCCESS' in text and '42.5' in text and 'data-final' in text


@pytest.mark.broker
async def test_console_requeues_one_and_selected_dead_letters(
    console: httpx.AsyncClient, pg: psycopg.Connection, private_queue: str, celery_app: Any
) -> None:
    first, second, third = (insert_dead_letter(pg, private_queue) for _ in range(3))
    probe = QueueProbe(celery_app, private_queue)
    try:
        one = await post(console, f'/console/dead-letters/{first}/requeue')
        assert one.headers['location'] == f'/console/dead-letters/{first}?notice=requeued'
        form = {'ids': [str(second), str(third)], 'filters': 'task_name=task.add&evil=1'}
        selected = await post(console, '/console/dead-letters/requeue', form)
        # Back to the same filtered list (only known filters kept)
        assert selected.headers['location'] == '/console/dead-letters?task_name=task.add&notice=requeued&count=2'
        requeued = dict(
            pg.execute(
                'SELECT id, requeued_task_id FROM task_dead_letter WHERE id = ANY(%s)', ([first, second, third],)
            ).fetchall()
        )
        assert all(requeued.values())
        wait_for(lambda: set(requeued.values()) <= set(probe.ids()), what='the three requeued messages')
    finally:
        probe.close()
    nothing = await post(console, '/console/dead-letters/requeue', {})
    assert nothing.status_code == 422 and 'select at least one' in nothing.text


async def test_console_purges_dead_letters_by_filter_after_confirming(
    console: httpx.AsyncClient, pg: psycopg.Connection, private_queue: str
) -> None:
    pg.execute('DELETE FROM task_dead_letter')
    kept = insert_dead_letter(pg, private_queue, exception_type='KeyError')
    insert_dead_letter(pg, private_queue)
    insert_dead_letter(pg, private_queue)
    confirm = await console.get('/console/dead-letters/purge', params={'exception_type': 'TypeError'})
    assert '2 dead letter(s)' in confirm.text and 'name="exception_type" value="TypeError"' in confirm.text
    purged = await post(console, '/console/dead-letters/purge', {'exception_type': 'TypeError'})
    assert purged.headers['location'] == '/console/dead-letters?notice=purged&count=2'
    assert pg.execute('SELECT array_agg(id) FROM task_dead_letter').fetchone() == ([kept],)
    unfiltered = await post(console, '/console/dead-letters/purge', {})
    assert unfiltered.status_code == 422 and 'at least one filter' in unfiltered.text
    assert pg.execute('SELECT count(*) FROM task_dead_letter').fetchone() == (1,)
