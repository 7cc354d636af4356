"""`fba api` as users run it: a real uvicorn process answering over TCP, with token auth and clean logs."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.app.task.service.health_cache import MAX_AGE
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


async def open_health_call(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A health request already written to the server's socket (so it is in flight before the next step)."""
    host, port = base.removeprefix('http://').split(':')
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b'GET /api/v1/monitoring/health HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n')
    await writer.drain()
    return reader, writer


async def status_of(call: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bytes:
    reader, writer = call
    status = await reader.readline()
    writer.close()
    return status.split(b' ', 2)[1]


async def test_concurrent_health_calls_do_not_delay_an_authenticated_write(
    server: tuple[str, Path], worker: WorkerProcess
) -> None:
    base, _ = server
    auth = {'Authorization': f'Bearer {TOKEN}'}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=auth) as client:
        body = {
            'name': f'health-load-{time.time_ns()}',
            'task': 'task.ping',
            'kind': 'interval',
            'interval_every': 3600,
        }
        created = await client.post('/api/v1/schedules', json=body)
        assert created.status_code == 201, created.text
        run_path = f'/api/v1/schedules/{created.json()["id"]}/run'
        try:
            for _ in range(2):  # with no fresh result (the first round), then again once it has aged
                # Given 40 health calls sent and waiting for their answer
                calls = await asyncio.gather(*(open_health_call(base) for _ in range(40)))
                # When an authenticated write is made meanwhile
                started = time.monotonic()
                run = await client.post(run_path)
                took = time.monotonic() - started
                # Then it answers within a second, and every health call gets the one shared answer (a worker's
                # ping may miss its second on a loaded machine: which answer it is, is not what this test is about)
                assert run.status_code == 202, run.text
                assert took < 1.0, f'the write took {took:.2f} s'
                statuses = set(await asyncio.gather(*(status_of(call) for call in calls)))
                assert len(statuses) == 1 and statuses <= {b'200', b'503'}, statuses
                await asyncio.sleep(MAX_AGE)  # the cached result expires: the next round probes again
        finally:
            await client.delete(f'/api/v1/schedules/{created.json()["id"]}')
