"""`fba api` as users run it: a real uvicorn process answering over TCP, with token auth and clean logs."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import TOKEN
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def server() -> Iterator[tuple[str, Path]]:
    """(base URL, log file) of `fba api --port <free>`; stopped with SIGTERM afterwards."""
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix='fba-api-', suffix='.log')[1])
    env = {**os.environ, 'API_TOKENS': TOKEN}
    with log_path.open('wb') as log:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'backend.cli', 'api', '--host', '127.0.0.1', '--port', str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f'http://127.0.0.1:{port}'

    def answers() -> bool:
        assert proc.poll() is None, log_path.read_text()
        try:
            return httpx.get(f'{base}/openapi.json', timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=60, what='fba api to answer')
        yield base, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_fba_api_serves_health_openly_and_the_rest_with_a_token(
    server: tuple[str, Path], worker: WorkerProcess
) -> None:
    base, log_path = server
    # Health needs no token and, with a worker up, answers 200
    health = httpx.get(f'{base}/api/v1/monitoring/health', timeout=30)
    assert health.status_code == 200, health.text
    assert health.json()['status'] == 'ok'
    # Any other route wants the token
    assert httpx.get(f'{base}/api/v1/tasks', timeout=30).status_code == 401
    wrong = httpx.get(f'{base}/api/v1/tasks', headers={'Authorization': 'Bearer nope-nope-nope-nope'}, timeout=30)
    assert wrong.status_code == 401
    ok = httpx.get(f'{base}/api/v1/tasks', headers={'Authorization': f'Bearer {TOKEN}'}, timeout=30)
    assert ok.status_code == 200 and ok.json()['total'] >= 4
    # And neither the token nor the broker password reaches the log
    log = log_path.read_text()
    assert 'GET /api/v1/tasks' in log
    assert TOKEN not in log and 'nope-nope' not in log and 'guest:guest' not in log
