"""Every console page answers 200 with a session and shows what the services hold (secrets masked)."""

import httpx
import psycopg
import pytest

from tests.support.console import insert_dead_letter


async def test_console_dashboard_shows_charts_queues_workers_and_dead_letters(
    console: httpx.AsyncClient, pg: psycopg.Connection, private_queue: str
) -> None:
    pg.execute(
        'INSERT INTO task_result (task_id, status, name, date_done) VALUES '
        "(gen_random_uuid()::text, 'SUCCESS', 'task.ping', now()), "
        "(gen_random_uuid()::text, 'FAILURE', 'task.add', now())"
    )
    insert_dead_letter(pg, private_queue)
    for path in ('/console', '/console/live'):
        response = await console.get(path)
        assert response.status_code == 200, response.text
        text = response.text
        assert text.count('<svg') == 2 and 'Succeeded per minute' in text and 'Failed per minute' in text
        assert '<td>default</td>' in text and 'dead letters in 24 h' in text and 'beat dispatch lag' in text
        assert 'task.add' in text
    assert 'data-poll="/console/live"' in (await console.get('/console')).text


async def test_console_tasks_list_and_generated_form(console: httpx.AsyncClient) -> None:
    listed = await console.get('/console/tasks')
    assert listed.status_code == 200 and 'task.add' in listed.text and 'Adds two numbers' in listed.text
    form = await console.get('/console/tasks/task.add')
    assert form.status_code == 200
    assert 'for="f-x"' in form.text and 'id="f-x" name="x"' in form.text and 'id="f-y" name="y"' in form.text
    payload = await console.get('/console/tasks/email.send_welcome')
    assert 'Argument schema' in payload.text and 'name="email"' in payload.text
    missing = await console.get('/console/tasks/no.such_task')
    assert missing.status_code == 404 and 'No task named' in missing.text


@pytest.mark.parametrize(
    'path',
    [
        '/console/schedules',
        '/console/schedules?enabled=true&kind=crontab&task=task.ping',
        '/console/schedules/new?kind=crontab',
        '/console/schedules/{id}',
        '/console/schedules/{id}/runs',
        '/console/schedules/{id}/edit',
        '/console/schedules/{id}/delete',
        '/console/results',
        '/console/results?min_runtime=0',
        '/console/results/unknown-id',
        '/console/dead-letters',
        '/console/dead-letters?reason=non_retryable&task_name=task.add&failed_after=2020-01-01T00:00',
        '/console/dead-letters/{dl}',
        '/console/dead-letters/purge?task_name=task.add',
    ],
)
async def test_console_page_answers_with_a_session(
    console: httpx.AsyncClient, pg: psycopg.Connection, schedule_id: int, private_queue: str, path: str
) -> None:
    dead_letter = insert_dead_letter(pg, private_queue)
    response = await console.get(path.format(id=schedule_id, dl=dead_letter))
    assert response.status_code == 200, response.text
    assert 'sekret-value-42' not in response.text


async def test_console_schedule_list_shows_next_run_and_filters(console: httpx.AsyncClient, schedule_id: int) -> None:
    shown = await console.get('/console/schedules', params={'kind': 'crontab'})
    assert 'nightly-ping' in shown.text and '0 3 * * *' in shown.text and 'never ran' in shown.text
    other = await console.get('/console/schedules', params={'kind': 'interval'})
    assert 'nightly-ping' not in other.text
    disabled = await console.get('/console/schedules', params={'enabled': 'false'})
    assert 'nightly-ping' not in disabled.text


async def test_console_dead_letter_detail_is_masked_with_traceback(
    console: httpx.AsyncClient, pg: psycopg.Connection, private_queue: str
) -> None:
    pk = insert_dead_letter(pg, private_queue)
    response = await console.get(f'/console/dead-letters/{pk}')
    assert '&#34;api_key&#34;: &#34;***&#34;' in response.text or '"api_key": "***"' in response.text
    assert 'Traceback (most recent call last)' in response.text and 'sekret' not in response.text


@pytest.mark.parametrize(
    ('query', 'fragment'),
    [
        ({'kind': 'crontab', 'crontab': '30 9 * * *', 'timezone': 'Europe/Berlin'}, '09:30:00 CET'),
        ({'kind': 'interval', 'interval_every': '10', 'interval_period': 'minutes'}, 'UTC'),
        ({'kind': 'crontab', 'crontab': '61 * * * *'}, 'class="problem"'),
        ({'kind': 'crontab', 'crontab': '* * * * *', 'timezone': 'Mars/Base'}, 'not an IANA zone'),
        ({'kind': 'interval', 'interval_every': 'ten'}, 'interval_every: must be a whole number'),
        # A datetime-local value is read in the form's zone: noon in Berlin (summer) is 10:00 UTC.
        ({'kind': 'clocked', 'clocked_at': '2031-06-01T12:00', 'timezone': 'Europe/Berlin'}, '2031-06-01 10:00:00 UTC'),
    ],
)
async def test_console_schedule_preview_answers_as_the_form_changes(
    console: httpx.AsyncClient, query: dict[str, str], fragment: str
) -> None:
    response = await console.get('/console/schedules/preview', params=query)
    assert response.status_code == 200
    assert fragment in response.text, response.text


async def test_console_unknown_rows_are_404_pages(console: httpx.AsyncClient) -> None:
    for path in ('/console/schedules/999999999', '/console/dead-letters/999999999'):
        response = await console.get(path)
        assert response.status_code == 404 and 'has id 999999999' in response.text
    bad = await console.get('/console/dead-letters', params={'failed_after': 'yesterday'})
    assert bad.status_code == 422 and 'failed_after' in bad.text
