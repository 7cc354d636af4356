"""Smoke test: `fba up --embedded` in an empty folder runs the whole stack with nothing but Python.

The API answers, a task returns its result, a one-second schedule fires, Ctrl-C
(SIGINT) stops every process including the embedded servers, and a second start
on the same folder finds the first run's results.
"""

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from backend.embedded.stack import environ
from backend.embedded.up import ENV_FILE
from tests.support.embedded import listening_port, open_tmp_dir
from tests.support.processes import Spawned, descendants, free_port, http_status, live_in_groups, spawn
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

FBA = [sys.executable, '-m', 'backend.cli']
START_TIMEOUT = 240.0
ALL_ANSWER = 'fba up: all parts answer'
# The test run's own service settings must not reach the stack: the folder decides everything.
RUN_SETTINGS = {
    *environ(pg_port=0, pg_password='', redis_port=0, redis_password=''),
    'FBA_ENV_FILE',
    'FLOWER_BASIC_AUTH',
    'API_TOKENS',
}


@pytest.fixture
def listener_port() -> Iterator[int]:
    with listening_port() as port:
        yield port


def _bare_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in RUN_SETTINGS}


@dataclass
class Up:
    folder: Path
    spawned: Spawned

    def log(self) -> str:
        return self.spawned.log()

    def fba(self, *args: str) -> str:
        """Another fba command in the folder, reaching the stack the way `fba up` tells users to."""
        env = {**_bare_env(), 'FBA_ENV_FILE': str(ENV_FILE)}
        result = subprocess.run([*FBA, *args], cwd=self.folder, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f'fba {" ".join(args)} failed:\n{result.stdout}\n{result.stderr}'
        return result.stdout.strip()

    def settings(self) -> dict[str, str]:
        """What `fba up` wrote to .fba/embedded.env for other commands."""
        return dict(line.split('=', 1) for line in (self.folder / ENV_FILE).read_text().splitlines())

    def dsn(self) -> str:
        values = self.settings()
        port, database, password = values['DATABASE_PORT'], values['DATABASE_NAME'], values['DATABASE_PASSWORD']
        return f'postgresql://postgres:{password}@127.0.0.1:{port}/{database}'

    def server_pids(self) -> tuple[int, int]:
        """The embedded PostgreSQL's postmaster and the embedded Redis server."""
        postmaster = int((self.folder / '.fba' / 'pgdata' / 'postmaster.pid').read_text().split()[0])
        values = self.settings()
        client = redis.Redis(port=int(values['REDIS_PORT']), password=values['REDIS_PASSWORD'])
        return postmaster, int(client.info('server')['process_id'])


@contextmanager
def fba_up(folder: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[Up]:
    """`fba up` on free ports, ended with SIGINT as Ctrl-C would; asserts nothing is left behind."""
    api_port, flower_port = free_port(), free_port()
    argv = [*FBA, 'up', *options, '--api-port', str(api_port), '--flower-port', str(flower_port)]
    spawned = spawn(f'up-{api_port}', argv, env={**_bare_env(), **(env or {})}, cwd=folder, log_dir=folder)
    try:

        def healthy() -> bool:
            spawned.assert_alive()
            return http_status(f'http://127.0.0.1:{api_port}/api/v1/monitoring/health') == 200

        wait_for(healthy, timeout=START_TIMEOUT, interval=0.3, what='the API health route to answer 200')
        yield Up(folder=folder, spawned=spawned)
        children = descendants(spawned.proc.pid)
        assert len(children) >= 6, 'expected API, worker, beat, Flower and both embedded servers'
        spawned.proc.send_signal(signal.SIGINT)
        assert spawned.proc.wait(90) == 0, spawned.log()[-4000:]
        groups = set(children.values())
        assert wait_for(lambda: not live_in_groups(groups), timeout=10, what='every process it started to end')
        assert not (folder / ENV_FILE).exists()
    finally:
        leftovers = set(descendants(spawned.proc.pid).values())
        spawned.stop()
        for group in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def test_fba_up_embedded_runs_the_stack_and_keeps_its_data() -> None:
    with open_tmp_dir() as folder:
        # Given the stack started on embedded servers in an empty folder
        with fba_up(folder, '--embedded') as first:
            # (the file telling other commands the passwords is the owner's alone)
            assert stat.S_IMODE((folder / ENV_FILE).stat().st_mode) == 0o600
            # When a task is sent and waited for, Then its result comes back
            assert float(first.fba('task', 'send', 'task.add', '--args', '[2, 3]', '--wait')) == 5
            task_id = first.fba('task', 'send', 'task.add', '--args', '[20, 22]')
            # When a one-second schedule is added, Then beat sends it and the worker runs it, again and again
            first.fba('schedule', 'add', 'smoke', 'task.ping', '--every', '1')
            with psycopg.connect(first.dsn(), autocommit=True) as conn:
                pings = "SELECT count(*) FROM task_result WHERE name = 'task.ping' AND status = 'SUCCESS'"
                wait_for(lambda: conn.execute(pings).fetchone()[0] >= 2, timeout=60, what='two scheduled pings')
                # (an id without a stored state is unknown to `fba task status`: wait for the row, then ask it)
                done = "SELECT 1 FROM task_result WHERE task_id = %s AND status = 'SUCCESS'"
                wait_for(lambda: conn.execute(done, [task_id]).fetchone(), timeout=60, what='the sent task to finish')
            assert json.loads(first.fba('task', 'status', task_id))['state'] == 'SUCCESS'
        # (Ctrl-C stopped everything: fba_up checked that no process is left)
        # When the stack starts again on the same folder, as plain `fba up` with no .env and nothing answering
        nothing = {'DATABASE_PORT': str(free_port()), 'CELERY_RABBITMQ_PORT': str(free_port())}
        with fba_up(folder, env=nothing) as second:
            # Then it says it starts the embedded servers, and the first run's result and schedule are still there
            assert 'No .env and nothing answers at PostgreSQL at 127.0.0.1:' in second.log()
            status = json.loads(second.fba('task', 'status', task_id))
            assert (status['state'], status['result']) == ('SUCCESS', 42)
            assert 'smoke' in second.fba('schedule', 'list')


def test_fba_up_embedded_killed_with_sigkill_takes_its_servers_down() -> None:
    with open_tmp_dir() as folder:
        # Given `fba up --embedded` with every part answering
        api_port, flower_port = free_port(), free_port()
        argv = [*FBA, 'up', '--embedded', '--api-port', str(api_port), '--flower-port', str(flower_port)]
        spawned = spawn(f'up-{api_port}', argv, env=_bare_env(), cwd=folder, log_dir=folder)
        up, groups = Up(folder=folder, spawned=spawned), set()
        try:
            wait_for(lambda: ALL_ANSWER in up.log(), timeout=START_TIMEOUT, interval=0.3, what='every part to answer')
            servers = up.server_pids()
            groups = set(descendants(spawned.proc.pid).values())
            assert len(groups) >= 6, 'expected API, worker, beat, Flower and both embedded servers'
            # When it is killed with SIGKILL, so it cannot stop anything itself
            os.kill(spawned.proc.pid, signal.SIGKILL)
            spawned.proc.wait(10)
            # Then the kernel tells the embedded servers, which stop within seconds, and every part stops too
            wait_for(lambda: not any(_running(pid) for pid in servers), timeout=20, what='both servers to stop')
            assert wait_for(lambda: not live_in_groups(groups), timeout=30, what='every process it started to end')
        finally:
            for group in groups | set(descendants(spawned.proc.pid).values()) | {spawned.proc.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
            spawned.proc.wait()


def _running(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != 'Z'


def test_fba_up_names_the_service_that_does_not_answer(listener_port: int) -> None:
    # Given Redis is the broker and answers, but nothing answers on the database port
    database_port = free_port()
    env = {
        **_bare_env(),
        'CELERY_BROKER': 'redis',
        'REDIS_PORT': str(listener_port),
        'DATABASE_PORT': str(database_port),
    }
    # When `fba up` starts
    with open_tmp_dir() as folder:
        result = subprocess.run([*FBA, 'up'], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
        # Then it stops at once with one sentence naming the missing one, and starts nothing
        assert not (folder / '.fba').exists()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'Error: PostgreSQL at 127.0.0.1:{database_port} does not answer while Redis at 127.0.0.1:{listener_port} '
        'does; start PostgreSQL, or run `fba up --embedded` to use embedded servers for both.'
    )
