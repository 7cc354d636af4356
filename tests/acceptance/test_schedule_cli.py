"""`fba schedule` as users run it: exit codes, one-sentence errors and what it prints."""

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.acceptance.test_cli import assert_one_sentence_error, fba
from tests.support import services
from tests.support.beat import QueueProbe
from tests.support.cli_many import Done, run_many
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess


@pytest.fixture(autouse=True)
def no_schedules(pg: psycopg.Connection) -> Iterator[None]:
    pg.execute('DELETE FROM task_schedule')
    yield
    pg.execute('DELETE FROM task_schedule')


def added_id(stdout: str) -> int:
    found = re.search(r'Added schedule (\d+)', stdout)
    assert found, stdout
    return int(found.group(1))


def test_schedule_add_list_update_disable_enable_delete(pg: psycopg.Connection) -> None:
    # Given a crontab schedule added from the command line
    done = fba(
        'schedule', 'add', 'nightly', 'task.add', '--cron', '30 2 * * *', '--tz', 'Europe/Berlin', '--args', '[1, 2]'
    )
    assert done.returncode == 0, done.stderr
    pk = added_id(done.stdout)
    listed = fba('schedule', 'list')
    assert 'nightly' in listed.stdout and '30 2 * * * (Europe/Berlin)' in listed.stdout
    # When it is changed, disabled, enabled and deleted
    assert fba('schedule', 'update', str(pk), '--every', '90').returncode == 0
    row = pg.execute('SELECT kind, interval_every, args, version FROM task_schedule WHERE id = %s', (pk,)).fetchone()
    assert row == ('interval', 90, [1, 2], 2)
    assert fba('schedule', 'disable', str(pk)).returncode == 0
    assert 'no' in fba('schedule', 'list', '--disabled').stdout
    assert 'Enabled schedule' in fba('schedule', 'enable', str(pk)).stdout
    assert fba('schedule', 'delete', str(pk)).returncode == 0
    # Then it is gone
    assert pg.execute('SELECT count(*) FROM task_schedule').fetchone() == (0,)


#: What `fba schedule` refuses, and a fragment of its one sentence.
SCHEDULE_ERRORS = [
    (['add', 'x', 'task.ping', '--cron', '0 24 * * *'], "Crontab hour field '24'"),
    (['add', 'x', 'task.ping', '--cron', '0 1 * * *', '--tz', 'Moon/Base'], "'Moon/Base' is not an IANA zone"),
    (['add', 'x', 'no.task', '--every', '5'], "No task named 'no.task' is registered"),
    (['add', 'x', 'task.ping', '--every', '5', '--at', '2030-01-01T00:00:00+00:00'], 'not --every and --at'),
    (['add', 'x', 'task.ping'], 'Give when to run'),
    (['add', 'x', 'task.ping', '--at', 'tomorrow'], "--at 'tomorrow' is not an ISO date-time"),
    (['add', 'x', 'task.ping', '--every', '5', '--args', '{'], '--args is not valid JSON'),
    (['add', 'n' * 201, 'task.ping', '--every', '5'], 'Invalid schedule: name: String should have at most 200'),
    (['add', 'x', 'task.ping', '--cron', '٣ * * * *'], "Crontab minute field '٣': '٣' is not a number"),
    (['add', 'x', 'task.ping', '--cron', '0 \uff13 * * *'], "Crontab hour field '\uff13'"),
    (['add', 'x', 'task.ping', '--every', str(2**31)], 'interval_every: Input should be less than or equal'),
    (['add', 'x', 'task.ping', '--every', '5', '--args', '[1]'], 'Arguments do not fit task task.ping'),
    (['add', 'x', 'task.add', '--every', '5', '--kwargs', '{"x": 1}'], "missing a required argument: 'y'"),
    (['add', 'x', 'task.ping', '--every', '5', '--queue', 'nobody'], "queue: 'nobody' is not declared"),
    (['add', 'x', 'task.ping', '--cron', '0 1 * * *', '--tz', 'America'], "'America' is not an IANA zone"),
    (['enable', str(10**30)], "Invalid value for 'ID': Input should be less than or equal to 9223372036854775807."),
    (['delete', str(2**63)], "Invalid value for 'ID': Input should be less than or equal to 9223372036854775807."),
    (['enable', '424242'], 'No schedule has id 424242.'),
    (['runs', '424242'], 'No schedule has id 424242.'),
]


@pytest.fixture(scope='module')
def schedule_error_runs(test_run: services.TestRun) -> list[Done]:
    """Every refused command line, run in one process (`tests.support.cli_many`), in SCHEDULE_ERRORS' order."""
    return run_many([['schedule', *args] for args, _ in SCHEDULE_ERRORS])


@pytest.mark.parametrize('case', range(len(SCHEDULE_ERRORS)), ids=[' '.join(a)[:50] for a, _ in SCHEDULE_ERRORS])
def test_schedule_errors_are_one_sentence_and_exit_1(case: int, schedule_error_runs: list[Done]) -> None:
    assert_one_sentence_error(schedule_error_runs[case], SCHEDULE_ERRORS[case][1])


def test_a_schedule_error_is_the_same_in_a_process_of_its_own(schedule_error_runs: list[Done]) -> None:
    done = fba('schedule', *SCHEDULE_ERRORS[0][0])
    assert_one_sentence_error(done, SCHEDULE_ERRORS[0][1])
    assert done.stderr == schedule_error_runs[0].stderr


def test_schedule_update_is_checked_like_add(pg: psycopg.Connection) -> None:
    pk = added_id(fba('schedule', 'add', 'adder', 'task.add', '--every', '60', '--args', '[1, 2]').stdout)
    assert_one_sentence_error(fba('schedule', 'update', str(pk), '--args', '[1]'), "missing a required argument: 'y'")
    assert_one_sentence_error(fba('schedule', 'update', str(pk), '--queue', 'nobody'), "queue: 'nobody'")
    assert_one_sentence_error(fba('schedule', 'update', str(pk), '--cron', '٣ * * * *'), "'٣' is not a number")
    assert pg.execute('SELECT version, args FROM task_schedule WHERE id = %s', (pk,)).fetchone() == (1, [1, 2])


def test_schedule_list_shows_why_beat_disabled_a_schedule(pg: psycopg.Connection) -> None:
    # Given a schedule beat disabled because its crontab was edited into garbage (the reason holds brackets)
    pk = added_id(fba('schedule', 'add', 'nightly', 'task.ping', '--cron', '0 3 * * *').stdout)
    reason = "Crontab minute field '[x]': '[x]' is not a number."
    pg.execute('UPDATE task_schedule SET enabled = false, disabled_reason = %s WHERE id = %s', (reason, pk))
    # Then the list shows the reason as stored, and enabling the schedule again clears it
    assert reason in ' '.join(fba('schedule', 'list', '--disabled').stdout.split())
    assert fba('schedule', 'enable', str(pk)).returncode == 0
    assert pg.execute('SELECT disabled_reason FROM task_schedule WHERE id = %s', (pk,)).fetchone() == (None,)


def test_schedule_preview_prints_utc_and_local_times() -> None:
    done = fba('schedule', 'preview', '--cron', '0 9 * * mon', '--tz', 'America/New_York', '--count', '3')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all(re.search(r'T09:00:00-0[45]:00$', line) for line in lines)


@pytest.mark.broker
def test_schedule_run_now_sends_and_runs_lists_it(celery_app: Any, private_queue: str) -> None:
    private_queue = private_queue
    probe = QueueProbe(celery_app, private_queue)
    try:
        pk = added_id(
            fba('schedule', 'add', 'daily', 'task.ping', '--cron', '0 3 * * *', '--queue', private_queue).stdout
        )
        done = fba('schedule', 'run-now', str(pk))
        assert done.returncode == 0, done.stderr
        task_id = done.stdout.strip()
        wait_for(lambda: probe.ids() == [task_id], timeout=30, what='the run-now message')
        runs = fba('schedule', 'runs', str(pk))
        assert task_id in runs.stdout and 'manual' in runs.stdout
    finally:
        probe.close()


@pytest.mark.broker
def test_schedule_runs_show_each_outcome_and_list_says_what_it_counts(celery_app: Any, worker: WorkerProcess) -> None:
    # Given a run sent by hand that a worker finished
    pk = added_id(fba('schedule', 'add', 'outcome', 'task.ping', '--cron', '0 3 * * *').stdout)
    task_id = fba('schedule', 'run-now', str(pk)).stdout.strip()
    celery_app.AsyncResult(task_id).get(timeout=60, interval=0.05)
    # Then its outcome is shown beside when it was sent
    runs = fba('schedule', 'runs', str(pk), env={'COLUMNS': '200'}).stdout
    assert 'outcome' in runs and next(line for line in runs.splitlines() if task_id in line).count('SUCCESS') == 1
    # And the list names what its run count counts
    assert 'beat runs' in fba('schedule', 'list', env={'COLUMNS': '200'}).stdout


def test_schedule_without_a_next_run_says_why() -> None:
    pk = added_id(fba('schedule', 'add', 'resting', 'task.ping', '--every', '60').stdout)
    assert fba('schedule', 'disable', str(pk)).returncode == 0
    updated = fba('schedule', 'update', str(pk), '--every', '120')
    assert updated.returncode == 0, updated.stderr
    assert 'no next run: disabled' in updated.stdout and 'None' not in updated.stdout
