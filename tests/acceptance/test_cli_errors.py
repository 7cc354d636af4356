"""Every `fba` command, failing as a user makes it fail: one sentence on stderr, exit code 1, never a traceback.

Three ways to fail: bad input (malformed JSON, wrong types, over-long names,
unknown or out-of-range ids, bad options of the long-running commands),
PostgreSQL down (DATABASE_PORT pointing at a closed port) and the broker down
(CELERY_RABBITMQ_PORT and REDIS_PORT pointing at a closed port). Each must also
fail fast: a down service is reported within seconds.

The bad-input and database-down cases of one environment run in one process
(`tests.support.cli_many`: each command line with its own argv, output and exit
code), so 80 cases cost a few interpreter start-ups, not 80; one case of every
command (and command group) also runs as a real `fba` process of its own, and
must say exactly what it said in the shared process.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import services
from tests.support.cli_many import Done, run_many

CLOSED_PORT = '1'
DATABASE_DOWN = {'DATABASE_PORT': CLOSED_PORT}
BROKER_DOWN = {'CELERY_RABBITMQ_PORT': CLOSED_PORT, 'REDIS_PORT': CLOSED_PORT}
#: Longest a command may take to report a down service (the process starts in about a second).
FAIL_FAST_SECONDS = 20
UNKNOWN_ID = '987654321'
TOO_BIG_ID = str(2**63)
A_TASK_ID = '5b0f6f2c-1c1a-4c55-9d61-0f1b3c1f9a11'


def fba(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'backend.cli', *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, 'COLUMNS': '200', **(env or {})},
    )


def assert_fails_with_one_sentence(done: subprocess.CompletedProcess[str] | Done, *fragments: str) -> str:
    """Exit code 1, no traceback anywhere, and stderr one `Error: ...` line holding each fragment."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert 'Traceback' not in output, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(r'Error: \S.*[.?!]', lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope='module')
def dead_letter_id(test_run: services.TestRun) -> Iterator[str]:
    """A dead letter that can be requeued."""
    with psycopg.connect(test_run.dsn, autocommit=True) as conn:
        row = conn.execute(
            'INSERT INTO task_dead_letter (task_id, task_name, args, kwargs, reason) '
            "VALUES (gen_random_uuid()::text, 'task.ping', '[]', '{}', 'non_retryable') RETURNING id"
        ).fetchone()
        assert row is not None
        yield str(row[0])
        conn.execute('DELETE FROM task_dead_letter WHERE id = %s', [row[0]])


@pytest.fixture(scope='module')
def schedule_id(test_run: services.TestRun) -> Iterator[str]:
    """A disabled schedule (so no beat of another test fires it) of task.ping."""
    added = fba('schedule', 'add', f'cli-errors-{os.getpid()}', 'task.ping', '--every', '3600')
    assert added.returncode == 0, added.stderr
    found = re.search(r'Added schedule (\d+)', added.stdout)
    assert found, added.stdout
    assert fba('schedule', 'disable', found[1]).returncode == 0
    yield found[1]
    fba('schedule', 'delete', found[1])


LONG_NAME = 'n' * 300

BAD_INPUT = [
    # task
    (['task', 'send', 'no.such_task'], "No task named 'no.such_task'"),
    (['task', 'send', 'task.add', '--args', '[1,'], '--args is not valid JSON'),
    (['task', 'send', 'task.add', '--args', '{"x": 1}'], '--args must be a JSON array'),
    (['task', 'send', 'task.add', '--kwargs', '[1]'], '--kwargs must be a JSON object'),
    (['task', 'send', 'task.add', '--args', '["a"]'], 'task.add'),
    (['task', 'send', 'task.ping', '--countdown', 'soon'], "'--countdown'"),
    (['task', 'send', 'task.ping', '--queue', 'q' * 300], 'queue'),
    (['task', 'send-batch', 'task.ping', '--items', '{}'], '--items must be a JSON array'),
    (['task', 'send-batch', 'task.ping', '--items', '[1]'], '--items item 0'),
    (['task', 'send-batch', 'task.ping', '--items', '@/no/such/file.json'], 'cannot be read'),
    (['task', 'status'], "Missing argument 'task_id'"),
    (['task', 'nothing'], "No such command 'nothing'"),
    # schedule
    (['schedule', 'add', LONG_NAME, 'task.ping', '--every', '60'], 'name'),
    (['schedule', 'add', 'cli-bad', 'task.ping'], 'Give when to run'),
    (['schedule', 'add', 'cli-bad', 'task.ping', '--every', 'often'], "'--every'"),
    (['schedule', 'add', 'cli-bad', 'task.ping', '--at', 'tomorrow'], '--at'),
    (['schedule', 'add', 'cli-bad', 'task.ping', '--every', '60', '--args', '[1,'], '--args is not valid JSON'),
    (['schedule', 'add', 'cli-bad', 'no.such_task', '--every', '60'], 'no.such_task'),
    (['schedule', 'enable', 'abc'], "'ID'"),
    (['schedule', 'enable', TOO_BIG_ID], "'ID'"),
    (['schedule', 'enable', '0'], "'ID'"),
    (['schedule', 'enable', UNKNOWN_ID], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'disable', UNKNOWN_ID], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'delete', UNKNOWN_ID], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'run-now', UNKNOWN_ID], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'runs', UNKNOWN_ID], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'update', UNKNOWN_ID, '--every', '60'], f'No schedule has id {UNKNOWN_ID}'),
    (['schedule', 'update', TOO_BIG_ID, '--every', '60'], "'ID'"),
    (['schedule', 'list', '--offset', TOO_BIG_ID], "'--offset'"),
    (['schedule', 'list', '--limit', '-1'], "'--limit'"),
    (['schedule', 'preview', '--cron', 'every day'], 'Crontab'),
    (['schedule', 'preview', '--cron', '* * * * *', '--tz', 'Nowhere/Land'], 'Nowhere/Land'),
    # dlq
    (['dlq', 'show', 'abc'], "'ID'"),
    (['dlq', 'show', TOO_BIG_ID], "'ID'"),
    (['dlq', 'show', UNKNOWN_ID], f'No dead letter has id {UNKNOWN_ID}'),
    (['dlq', 'requeue', UNKNOWN_ID], f'No dead letter has id {UNKNOWN_ID}'),
    (['dlq', 'list', '--after', 'yesterday'], '--after'),
    (['dlq', 'list', '--offset', TOO_BIG_ID], "'--offset'"),
    (['dlq', 'purge'], 'Give at least one filter'),
    # db
    (['db', 'upgrade', 'no-such-revision'], 'no-such-revision'),
    (['db', 'downgrade', 'no-such-revision'], 'no-such-revision'),
    # long-running commands, refused before they start
    (['worker', '--pool', 'gevent'], '--pool'),
    (['worker', '--concurrency', '0'], '--concurrency'),
    (['worker', '--queues', 'a,,b'], '--queues'),
    (['worker', '--loglevel', 'LOUD'], '--loglevel'),
    (['worker', '--metrics-port', '70000'], '--metrics-port'),
    (['worker', '--time-limit', 'long'], '--time-limit'),
    (['worker', '--profile', 'fast'], '--profile'),
    (['worker', '--result-batch', '0'], '--result-batch'),
    (['beat', '--loglevel', 'LOUD'], '--loglevel'),
    (['flower', '--port', '0'], '--port'),
    (['api', '--port', '70000'], '--port'),
    (['up', '--api-port', 'x'], '--api-port'),
    (['workers', '--pools', 'email'], "--pools item 'email'"),
    (['workers', '--pools', 'email:0'], "--pools item 'email:0'"),
    (['workers', '--pools', 'email:1,email:2'], "names the pool 'email' twice"),
    (['workers', '--pools', 'email:1', '--loglevel', 'LOUD'], '--loglevel'),
    (['health', '--only', 'kafka'], 'choose from broker, database, worker, flower, api'),
    (['health', '--timeout', '0'], '--timeout'),
    (['no-such-command'], "No such command 'no-such-command'"),
]


def case_id(args: list[str]) -> str:
    return ' '.join(args)[:60]


def first_of_each_command(cases: list[list[str]]) -> list[list[str]]:
    """The first case of each top-level command (`task`, `schedule`, `worker`...)."""
    seen: dict[str, list[str]] = {}
    for args in cases:
        seen.setdefault(args[0], args)
    return list(seen.values())


@pytest.fixture(scope='module')
def bad_input_runs(test_run: services.TestRun) -> dict[str, Done]:
    return {case_id(done.args): done for done in run_many([args for args, _ in BAD_INPUT])}


@pytest.mark.parametrize(('args', 'expected'), BAD_INPUT, ids=[case_id(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_sentence_and_exit_code_1(
    args: list[str], expected: str, bad_input_runs: dict[str, Done]
) -> None:
    assert_fails_with_one_sentence(bad_input_runs[case_id(args)], expected)


@pytest.mark.parametrize('args', first_of_each_command([args for args, _ in BAD_INPUT]), ids=case_id)
def test_bad_input_fails_the_same_in_a_process_of_its_own(args: list[str], bad_input_runs: dict[str, Done]) -> None:
    done = fba(*args)
    assert_fails_with_one_sentence(done)
    assert done.stderr == bad_input_runs[case_id(args)].stderr


DATABASE_COMMANDS = [
    ['dlq', 'list'],
    ['dlq', 'show', '1'],
    ['dlq', 'requeue', '1'],
    ['dlq', 'purge', '--all'],
    ['dlq', 'purge', '--task', 'task.ping'],
    ['schedule', 'list'],
    ['schedule', 'add', 'cli-db-down', 'task.ping', '--every', '60'],
    ['schedule', 'update', '1', '--every', '60'],
    ['schedule', 'enable', '1'],
    ['schedule', 'disable', '1'],
    ['schedule', 'delete', '1'],
    ['schedule', 'run-now', '1'],
    ['schedule', 'runs', '1'],
    ['task', 'status', A_TASK_ID],
    ['db', 'upgrade'],
    ['db', 'downgrade', 'base'],
]


@pytest.fixture(scope='module')
def database_down_runs(test_run: services.TestRun) -> dict[str, Done]:
    return {case_id(done.args): done for done in run_many(DATABASE_COMMANDS, env=DATABASE_DOWN)}


@pytest.mark.parametrize('args', DATABASE_COMMANDS, ids=' '.join)
def test_database_down_is_one_sentence_naming_postgresql(args: list[str], database_down_runs: dict[str, Done]) -> None:
    done = database_down_runs[case_id(args)]
    assert_fails_with_one_sentence(done, 'PostgreSQL', f':{CLOSED_PORT}', 'Connection refused')
    assert done.seconds < FAIL_FAST_SECONDS


@pytest.mark.parametrize('args', first_of_each_command(DATABASE_COMMANDS), ids=' '.join)
def test_database_down_fails_fast_in_a_process_of_its_own(args: list[str], database_down_runs: dict[str, Done]) -> None:
    started = time.monotonic()
    done = fba(*args, env=DATABASE_DOWN)
    assert_fails_with_one_sentence(done, 'PostgreSQL', f':{CLOSED_PORT}', 'Connection refused')
    assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert done.stderr == database_down_runs[case_id(args)].stderr


@pytest.mark.parametrize('args', [['dlq', 'list'], ['schedule', 'list'], ['task', 'status', A_TASK_ID]], ids=' '.join)
def test_a_database_not_migrated_is_one_sentence_saying_so(args: list[str]) -> None:
    # The maintenance database exists on every server and has none of our tables.
    done = fba(*args, env={'DATABASE_NAME': 'postgres'})
    assert_fails_with_one_sentence(done, 'is not migrated', 'fba db upgrade')


@pytest.mark.broker
@pytest.mark.parametrize(
    'args',
    [
        ['task', 'send', 'task.ping'],
        ['task', 'send', 'task.ping', '--wait'],
        ['task', 'send-batch', 'task.ping', '--items', '[{}, {}]'],
        ['task', 'revoke', A_TASK_ID],
        ['dlq', 'requeue', '{dead_letter}'],
        ['schedule', 'run-now', '{schedule}'],
    ],
    ids=lambda args: ' '.join(args),
)
def test_broker_down_is_one_sentence_naming_the_broker(args: list[str], dead_letter_id: str, schedule_id: str) -> None:
    ids = {'{dead_letter}': dead_letter_id, '{schedule}': schedule_id}
    args = [ids.get(arg, arg) for arg in args]
    started = time.monotonic()
    done = fba(*args, env=BROKER_DOWN)
    line = assert_fails_with_one_sentence(done)
    assert 'broker' in line
    assert time.monotonic() - started < FAIL_FAST_SECONDS


@pytest.mark.parametrize(('check', 'env'), [('database', DATABASE_DOWN), ('broker', BROKER_DOWN)])
def test_health_reports_a_down_service_without_a_traceback(check: str, env: dict[str, str]) -> None:
    done = fba('health', '--only', check, '--timeout', '2', env=env)
    assert done.returncode == 1
    assert 'Traceback' not in done.stdout + done.stderr
    assert re.match(rf'FAIL\s+{check}\s', done.stdout), done.stdout


def test_flower_on_a_taken_port_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # No management API to look for (0: not used), so the port's failure is all there is to say.
        env = {'FLOWER_DATA_DIR': str(tmp_path), 'CELERY_RABBITMQ_MANAGEMENT_PORT': '0'}
        done = fba('flower', '--dev', '--port', port, env=env)
    assert_fails_with_one_sentence(done, 'Cannot listen on the port given', 'Address already in use')


def test_lists_show_stored_text_that_looks_like_markup_verbatim(test_run: services.TestRun) -> None:
    # Given a dead letter and a schedule whose texts look like Rich markup and emoji codes
    text = '[/oops] [bold]x :smile:'
    with psycopg.connect(test_run.dsn, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO task_dead_letter (task_id, task_name, reason, exception_type, exception_message) '
            "VALUES (gen_random_uuid()::text, 'task.markup', 'non_retryable', 'MarkupProbe', %s)",
            [text],
        )
        try:
            added = fba('schedule', 'add', text, 'task.ping', '--every', '3600')
            assert added.returncode == 0, added.stderr
            # When they are listed, Then they are shown as stored
            dead_letters = fba('dlq', 'list', '--task', 'task.markup')
            schedules = fba('schedule', 'list', '--task', 'task.ping')
        finally:
            conn.execute("DELETE FROM task_dead_letter WHERE task_name = 'task.markup'")
            conn.execute('DELETE FROM task_schedule WHERE name = %s', [text])
    assert dead_letters.returncode == 0, dead_letters.stderr
    assert f'MarkupProbe: {text}' in dead_letters.stdout
    assert schedules.returncode == 0, schedules.stderr
    assert text in schedules.stdout
