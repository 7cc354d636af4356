"""`fba flower`: a login from FLOWER_BASIC_AUTH, no secret in its command line or output, state kept in a file."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import Spawned, free_port, http_status, spawn, wait_for_http
from tests.support.wait import wait_for

LOGIN = 'admin:flower-test-Secret-42'
FBA = [sys.executable, '-m', 'backend.cli']


def basic(login: str) -> dict[str, str]:
    return {'Authorization': 'Basic ' + base64.b64encode(login.encode()).decode()}


@pytest.fixture
def flower(tmp_path: Path) -> tuple[Spawned, str, Path]:
    port = free_port()
    data_dir = tmp_path / 'flower-data'
    env = {**os.environ, 'FLOWER_BASIC_AUTH': LOGIN, 'FLOWER_DATA_DIR': str(data_dir), 'FLOWER_PERSISTENT': 'true'}
    spawned = spawn('flower', [*FBA, 'flower', '--port', str(port)], env=env, cwd=tmp_path, log_dir=tmp_path)
    url = f'http://127.0.0.1:{port}'
    wait_for_http(spawned, f'{url}/healthcheck')
    yield spawned, url, data_dir
    spawned.stop()


def test_flower_answers_401_without_the_login_and_200_with_it(flower: tuple[Spawned, str, Path]) -> None:
    _, url, _ = flower
    assert http_status(f'{url}/api/tasks') == 401
    assert http_status(f'{url}/api/tasks', basic('admin:wrong-password')) == 401
    assert http_status(f'{url}/api/tasks', basic(LOGIN)) == 200
    assert http_status(f'{url}/workers', basic(LOGIN)) == 200


def test_flower_keeps_the_login_out_of_its_command_line_and_output(flower: tuple[Spawned, str, Path]) -> None:
    spawned, url, _ = flower
    assert http_status(f'{url}/api/tasks', basic(LOGIN)) == 200
    password = LOGIN.split(':')[1]
    command_line = Path(f'/proc/{spawned.proc.pid}/cmdline').read_bytes().decode()
    assert password not in command_line
    assert '--port' in command_line
    assert password not in spawned.log()


def test_flower_persists_its_state_to_a_file_in_the_data_dir(flower: tuple[Spawned, str, Path]) -> None:
    # Given a running Flower in persistent mode
    spawned, _, data_dir = flower
    # When it stops
    spawned.stop()
    # Then its state is in a file under FLOWER_DATA_DIR, readable by its user only (it holds every task's call)
    assert spawned.proc.returncode == 0, spawned.log()[-2000:]
    files = wait_for(lambda: list(data_dir.glob('flower.db*')), timeout=10, what='the Flower state file')
    assert {oct(path.stat().st_mode & 0o777) for path in files} == {oct(0o600)}
    assert oct(data_dir.stat().st_mode & 0o777) == oct(0o700)


def test_flower_closes_a_state_file_an_older_run_left_readable(tmp_path: Path) -> None:
    # Given a state folder and file any local user could read
    data_dir = tmp_path / 'flower-data'
    data_dir.mkdir(mode=0o755)
    (data_dir / 'flower.db').write_bytes(b'')
    (data_dir / 'flower.db').chmod(0o644)
    env = {**os.environ, 'FLOWER_BASIC_AUTH': LOGIN, 'FLOWER_DATA_DIR': str(data_dir), 'FLOWER_PERSISTENT': 'true'}
    port = free_port()
    # When Flower starts on it
    spawned = spawn('flower-old', [*FBA, 'flower', '--port', str(port)], env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        wait_for_http(spawned, f'http://127.0.0.1:{port}/healthcheck')
        # Then both are private to Flower's user
        assert oct(data_dir.stat().st_mode & 0o777) == oct(0o700)
        assert {oct(p.stat().st_mode & 0o777) for p in data_dir.glob('flower.db*')} == {oct(0o600)}
    finally:
        spawned.stop()


def test_flower_refuses_to_start_without_a_login() -> None:
    env = {**os.environ, 'FLOWER_BASIC_AUTH': ''}
    done = subprocess.run([*FBA, 'flower'], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        'Error: Flower needs a login: set FLOWER_BASIC_AUTH=user:password (or pass --dev on a development machine).'
    ]


def test_flower_dev_flag_opens_the_pages_but_not_the_api(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, 'FLOWER_BASIC_AUTH': '', 'FLOWER_PERSISTENT': 'false'}
    argv = [*FBA, 'flower', '--dev', '--port', str(port)]
    spawned = spawn('flower-dev', argv, env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        wait_for_http(spawned, f'http://127.0.0.1:{port}/healthcheck')
        assert http_status(f'http://127.0.0.1:{port}/tasks') == 200
        # The HTTP API can revoke and run tasks: Flower keeps it closed without a login.
        assert http_status(f'http://127.0.0.1:{port}/api/tasks') == 401
    finally:
        spawned.stop()


def test_flower_rejects_a_login_without_a_password() -> None:
    env = {**os.environ, 'FLOWER_BASIC_AUTH': 'admin'}
    done = subprocess.run([*FBA, 'flower'], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Invalid setting FLOWER_BASIC_AUTH=***: must be 'user:password' with both parts set"
    ]


@pytest.mark.rabbitmq_only
def test_flower_starts_quiet_and_says_once_that_the_management_api_is_missing(tmp_path: Path, empty_vhost: str) -> None:
    # Given Flower on a vhost no worker serves, and no RabbitMQ management API where it is looked for
    port, closed = free_port(), free_port()
    env = {
        **os.environ,
        'FLOWER_BASIC_AUTH': LOGIN,
        'FLOWER_DATA_DIR': str(tmp_path),
        'CELERY_RABBITMQ_VHOST': empty_vhost,
        'CELERY_RABBITMQ_MANAGEMENT_PORT': str(closed),
    }
    spawned = spawn('flower-quiet', [*FBA, 'flower', '--port', str(port)], env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        url = f'http://127.0.0.1:{port}'
        wait_for_http(spawned, f'{url}/healthcheck')
        # When it has inspected the (absent) workers and shown its broker page twice
        assert http_status(f'{url}/api/workers?refresh=1', basic(LOGIN), timeout=30) == 200
        assert http_status(f'{url}/broker', basic(LOGIN), timeout=30) == 200
        assert http_status(f'{url}/broker', basic(LOGIN), timeout=30) == 200
        log = spawned.log()
    finally:
        spawned.stop()
    # Then no inspect warning, and the missing management API is said once, naming the port
    assert 'Inspect method' not in log, log[-3000:]
    assert 'RabbitMQ management API call failed' not in log, log[-3000:]
    assert log.count(f"RabbitMQ's management API does not answer on port {closed}") == 1, log[-3000:]
