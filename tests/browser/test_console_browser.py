"""What only a browser shows: sign-in, the live preview, live runs and states, select-and-requeue, CSRF refusal."""

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.support.beat import BeatProcess, start_beat
from tests.support.browser import sign_in, snapshot
from tests.support.console import insert_dead_letter
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def no_schedules(pg: psycopg.Connection) -> Iterator[None]:
    pg.execute('DELETE FROM task_schedule')
    yield
    pg.execute('DELETE FROM task_schedule')


@pytest.fixture
def beat(no_schedules: None) -> Iterator[BeatProcess]:
    process = start_beat()
    yield process
    process.stop()


def test_console_page_without_session_redirects_to_sign_in(page: Page) -> None:
    page.goto('/console/schedules?kind=crontab')
    expect(page).to_have_url(re.compile(r'/console/sign-in\?next=%2Fconsole%2Fschedules'))
    expect(page.get_by_label('API token')).to_be_focused()


def test_console_sign_in_with_the_keyboard_reaches_the_page_asked_for(page: Page) -> None:
    sign_in(page, '/console/schedules')
    expect(page.get_by_role('heading', name='Schedules')).to_be_visible()
    page.get_by_role('button', name='Sign out').click()
    expect(page).to_have_url(re.compile(r'/console/sign-in$'))
    page.goto('/console')
    expect(page).to_have_url(re.compile(r'/console/sign-in'))


def test_console_crontab_form_previews_fire_times_as_the_expression_changes(
    signed_in: Page, no_schedules: None
) -> None:
    page = signed_in
    page.goto('/console/schedules/new')
    page.get_by_label('Crontab', exact=True).check()
    page.get_by_label('Name', exact=True).fill('morning-report')
    page.get_by_label('Task', exact=True).select_option('task.ping')
    page.get_by_label('Time zone', exact=True).fill('Europe/Berlin')
    page.get_by_label('Crontab expression').fill('0 9 * * *')
    preview = page.locator('#preview')
    expect(preview).to_contain_text('09:00:00 CE')  # local column, CET or CEST
    expect(preview.locator('th').nth(1)).to_have_text('Europe/Berlin')
    page.get_by_label('Crontab expression').fill('45 18 * * *')
    expect(preview).to_contain_text('18:45:00 CE')
    expect(preview).not_to_contain_text('09:00:00')
    page.get_by_label('Crontab expression').fill('61 * * * *')
    expect(preview.locator('.problem')).to_be_visible()
    page.get_by_label('Crontab expression').fill('45 18 * * 1-5')
    expect(preview).to_contain_text('18:45:00 CE')
    snapshot(page, 'console-schedule-form')
    expect(page.locator('.kind-interval')).to_be_hidden()
    page.get_by_role('button', name='Create schedule').click()
    expect(page.get_by_role('heading', name='Schedule morning-report')).to_be_visible()
    expect(page.locator('.facts')).to_contain_text('45 18 * * 1-5 in Europe/Berlin')
    expect(page.locator('.facts')).to_contain_text('task.ping')


def test_console_one_second_schedule_shows_its_runs_as_they_happen(
    signed_in: Page, beat: BeatProcess, worker: WorkerProcess
) -> None:
    page = signed_in
    page.goto('/console/schedules/new')
    page.get_by_label('Name', exact=True).fill('every-second')
    page.get_by_label('Task', exact=True).select_option('task.ping')
    page.get_by_label('Every …').check()
    page.get_by_label('Every', exact=True).fill('1')
    page.get_by_label('Period', exact=True).select_option('seconds')
    page.get_by_role('button', name='Create schedule').click()
    expect(page.get_by_role('heading', name='Schedule every-second')).to_be_visible()
    runs = page.locator('#runs tr.run')
    expect(runs.nth(2)).to_be_visible(timeout=45_000)  # three runs, appeared without a reload
    expect(page.locator('#runs .state-success').first).to_be_visible(timeout=45_000)
    page.get_by_role('button', name='Disable').click()
    expect(page.locator('h1 .tag')).to_have_text('disabled')


def test_console_send_form_follows_the_task_to_success(signed_in: Page, worker: WorkerProcess) -> None:
    page = signed_in
    page.goto('/console/tasks/task.add')
    page.get_by_role('textbox', name='x', exact=True).fill('two')
    page.get_by_role('textbox', name='y', exact=True).fill('40.5')
    page.get_by_role('button', name='Send').click()
    expect(page.locator('#x-error')).to_have_text('must be a number')  # shown next to its field
    page.get_by_role('textbox', name='x', exact=True).fill('2')
    page.get_by_role('button', name='Send').click()
    expect(page).to_have_url(re.compile(r'/console/results/[0-9a-f-]{36}$'))
    expect(page.locator('#state')).to_have_text('SUCCESS', timeout=45_000)
    expect(page.locator('#result-value')).to_have_text('42.5')


def test_console_requeues_the_dead_letters_selected_with_select_all(signed_in: Page, pg: psycopg.Connection) -> None:
    page = signed_in
    kind = f'Browser{uuid.uuid4().hex[:8]}Error'
    # `bulk`: a queue the API server (started before this test) declares, and no worker of this module reads.
    ids = [
        insert_dead_letter(pg, 'bulk', task_name='task.sleep', exception_type=kind, kwargs='{"password": "hunter2"}')
        for _ in range(2)
    ]
    page.goto(f'/console/dead-letters?exception_type={kind}')
    page.get_by_label('Select every dead letter on this page').check()
    for pk in ids:
        expect(page.get_by_label(f'Select dead letter {pk}')).to_be_checked()
    page.get_by_role('button', name='Requeue selected').click()
    expect(page.locator('.notice')).to_contain_text('Sent again with a new id. (2)')
    expect(page).to_have_url(re.compile(f'exception_type={kind}'))  # back to the same filtered list
    page.goto(f'/console/dead-letters/{ids[0]}')
    expect(page.locator('#requeued')).to_be_visible()
    expect(page.locator('main')).not_to_contain_text('hunter2')
    rows = pg.execute('SELECT requeued_task_id FROM task_dead_letter WHERE id = ANY(%s)', (ids,)).fetchall()
    assert len(rows) == 2 and all(row[0] for row in rows)


def test_console_purges_what_the_filter_matches_after_a_confirmation(
    signed_in: Page, pg: psycopg.Connection, private_queue: str
) -> None:
    page = signed_in
    kind = f'Purge{uuid.uuid4().hex[:8]}Error'
    ids = [insert_dead_letter(pg, private_queue, exception_type=kind) for _ in range(2)]
    page.goto(f'/console/dead-letters?exception_type={kind}')
    page.get_by_role('link', name='Purge matching…').click()
    expect(page.locator('.warning')).to_contain_text(f'2 dead letter(s) matching exception type {kind}')
    assert pg.execute('SELECT count(*) FROM task_dead_letter WHERE id = ANY(%s)', (ids,)).fetchone() == (2,)
    page.get_by_role('button', name='Purge 2 dead letter(s)').click()
    expect(page.locator('.notice')).to_contain_text('Dead letters deleted. (2)')
    assert pg.execute('SELECT count(*) FROM task_dead_letter WHERE id = ANY(%s)', (ids,)).fetchone() == (0,)


def test_console_write_without_the_csrf_token_is_refused(signed_in: Page, no_schedules: None) -> None:
    page = signed_in
    page.goto('/console/schedules/new')
    page.get_by_label('Name', exact=True).fill('no-token')
    page.locator('#schedule-form input[name="csrf_token"]').evaluate('field => field.remove()')
    page.get_by_role('button', name='Create schedule').click()
    expect(page.get_by_role('heading', name='Error 403')).to_be_visible()
    expect(page.locator('.problem')).to_contain_text('security token')
    page.goto('/console/schedules')
    expect(page.locator('main')).not_to_contain_text('no-token')


def test_console_dashboard_draws_charts_and_fits_a_phone(signed_in: Page, worker: WorkerProcess) -> None:
    page = signed_in
    page.goto('/console')
    expect(page.locator('svg[aria-label="Succeeded per minute, last hour"] rect')).to_have_count(60)
    expect(page.locator('#live table').nth(1)).to_contain_text('solo')  # the test worker, with its pool
    snapshot(page, 'console-dashboard')
    page.set_viewport_size({'width': 390, 'height': 844})
    overflow = page.evaluate('document.documentElement.scrollWidth - window.innerWidth')
    assert overflow <= 0, f'the dashboard is {overflow}px wider than a phone'
