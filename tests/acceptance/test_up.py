"""`fba up`: API, worker, beat and Flower with prefixed output and a status table; SIGINT leaves nothing behind."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import descendants, free_port, http_status, live_in_groups, spawn
from tests.support.wait import wait_for

PARTS = ('api', 'worker', 'beat', 'flower')


def test_up_starts_all_four_and_sigint_stops_every_process(tmp_path: Path) -> None:
    # Given `fba up` on free ports
    api_port, flower_port = free_port(), free_port()
    env = {
        **os.environ,
        'FLOWER_BASIC_AUTH': 'admin:up-test-password',
        'FLOWER_DATA_DIR': str(tmp_path / 'flower'),
        'COLUMNS': '200',
    }
    argv = [sys.executable, '-m', 'backend.cli', 'up', '--api-port', str(api_port), '--flower-port', str(flower_port)]
    up = spawn('up', argv, env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        # When every part answers, it prints the status table
        def table_shown() -> bool:
            up.assert_alive()
            return 'fba up: all parts answer' in up.log()

        wait_for(table_shown, timeout=180, interval=0.5, what='the fba up status table')
        log = up.log()
        # Then each part's output is prefixed with its name, and the table shows URLs, queues and tasks
        for part in PARTS:
            assert re.search(rf'^\s*{part} \| ', log, re.MULTILINE), f'no line prefixed with {part}:\n{log[-3000:]}'
        assert f'http://127.0.0.1:{api_port}' in log
        assert f'http://127.0.0.1:{flower_port}' in log
        assert 'queues default' in log
        assert 'task.ping' in log
        assert 'up-test-password' not in log
        assert f'http://127.0.0.1:{api_port}/console' in log and f'http://127.0.0.1:{api_port}/metrics' in log
        assert 'worker metrics' in log
        assert http_status(f'http://127.0.0.1:{api_port}/api/v1/monitoring/health') == 200
        # And `fba health --only api` run here probes the port fba up chose, naming the URL
        health = subprocess.run(
            [sys.executable, '-m', 'backend.cli', 'health', '--only', 'api'],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        assert health.returncode == 0, health.stdout + health.stderr
        assert f'API at http://127.0.0.1:{api_port}/api/v1/monitoring/health answered HTTP 200' in health.stdout
        children = descendants(up.proc.pid)
        groups = set(children.values())
        assert len(groups) >= len(PARTS)
        # When it gets SIGINT (Ctrl-C)
        os.kill(up.proc.pid, signal.SIGINT)
        assert up.proc.wait(60) == 0, up.log()[-3000:]
        # Then no process it started is left, in any of their process groups
        assert wait_for(lambda: not live_in_groups(groups), timeout=10, what='every child process group to be empty')
        assert not (tmp_path / '.fba' / 'up.json').exists()
    finally:
        up.stop()


def test_up_killed_with_sigkill_leaves_no_part_running(tmp_path: Path) -> None:
    # Given `fba up` with every part started
    env = {**os.environ, 'FLOWER_BASIC_AUTH': 'admin:up-test-password', 'FLOWER_DATA_DIR': str(tmp_path / 'flower')}
    argv = [
        sys.executable,
        '-m',
        'backend.cli',
        'up',
        '--api-port',
        str(free_port()),
        '--flower-port',
        str(free_port()),
    ]
    up = spawn('up', argv, env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        children = wait_for(lambda: len(found := descendants(up.proc.pid)) >= len(PARTS) and found, what='children')
        groups = set(children.values())
        # When it is killed with SIGKILL, so it cannot stop them itself
        os.kill(up.proc.pid, signal.SIGKILL)
        up.proc.wait(10)
        # Then the parts, told by the kernel, stop by themselves: nothing is left in their process groups
        assert wait_for(lambda: not live_in_groups(groups), timeout=30, what='every child process group to be empty')
    finally:
        up.stop()


def test_up_stops_everything_when_one_part_dies(tmp_path: Path) -> None:
    # Given `fba up` whose Flower cannot start (its port is the API's)
    port = free_port()
    env = {**os.environ, 'FLOWER_BASIC_AUTH': 'admin:up-test-password', 'FLOWER_DATA_DIR': str(tmp_path / 'flower')}
    argv = [sys.executable, '-m', 'backend.cli', 'up', '--api-port', str(port), '--flower-port', str(port)]
    up = spawn('up', argv, env=env, cwd=tmp_path, log_dir=tmp_path)
    try:
        children = wait_for(lambda: len(found := descendants(up.proc.pid)) >= len(PARTS) and found, what='children')
        groups = set(children.values())
        # When one part exits, fba up stops the others and exits non-zero
        assert up.proc.wait(180) == 1, up.log()[-3000:]
        assert re.search(r'(api|flower) exited with code', up.log())
        # Then nothing it started is left in their process groups
        assert wait_for(lambda: not live_in_groups(groups), timeout=10, what='every child process group to be empty')
    finally:
        up.stop()
