"""HTTP send path: `POST /api/v1/tasks/{name}/send` under wrk (32 connections, 10 s) on loopback.

Ours: the project's API (token check, argument validation, publish confirmed by
the broker), one uvicorn process. Baseline: a bare FastAPI endpoint calling stock
Celery's `send_task` (no checks, no publisher confirms), one uvicorn process, in
the same run. Both servers run side by side and are loaded in turn (ours, stock,
stock, ours, …), so a machine shared with other work slows both alike. Needs
`wrk` (Debian: `apt-get install wrk`). Run: `.venv/bin/python -m bench.api`.
"""

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.support import private_services
from tests.support.wait import wait_for

LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


@dataclass
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn(target: str, port: int, factory: bool) -> Iterator[None]:
    argv = [sys.executable, '-m', 'uvicorn', target, '--port', str(port), '--log-level', 'warning', '--no-access-log']
    proc = subprocess.Popen([*argv, *(['--factory'] if factory else [])], start_new_session=True)
    try:
        wait_for(lambda: _answers(port) or proc.poll() is not None, timeout=60, interval=0.1, what=f'uvicorn {target}')
        if proc.poll() is not None:
            raise SystemExit(f'uvicorn {target} exited with {proc.returncode}')
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=0.5):
        return True
    return False


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r'([\d.]+)(us|ms|s)', text).groups()  # type: ignore[union-attr]
    return float(value) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[unit]


def wrk(url: str, body: dict[str, object], token: str, connections: int, seconds: int) -> Load:
    with tempfile.NamedTemporaryFile('w', suffix='.lua', delete=False) as script:
        script.write(LUA.format(body=json.dumps(body), token=token))
    try:
        argv = ['wrk', '-t2', f'-c{connections}', f'-d{seconds}s', '--latency', '-s', script.name, url]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        Path(script.name).unlink()
    percentiles = dict(re.findall(r'^\s+(50|99)%\s+(\S+)\s*$', out, re.MULTILINE))
    socket_errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    non_2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    errors = sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Load(
        rate=float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles['50']),
        p99_ms=_ms(percentiles['99']),
        errors=errors,
    )


def combined(rounds: list[Load]) -> Load:
    """Equal-length rounds: the mean rate, the median p50, the worst p99, every error."""
    return Load(
        rate=statistics.mean(load.rate for load in rounds),
        p50_ms=statistics.median(load.p50_ms for load in rounds),
        p99_ms=max(load.p99_ms for load in rounds),
        errors=sum(load.errors for load in rounds),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--connections', type=int, default=32)
    parser.add_argument('--seconds', type=int, default=5, help='per round and side')
    parser.add_argument('--rounds', type=int, default=4)
    options = parser.parse_args()
    if shutil.which('wrk') is None:
        raise SystemExit('bench.api needs wrk on the PATH (Debian: apt-get install wrk).')
    token = secrets.token_urlsafe(24)
    with private_services('rabbitmq'):
        os.environ['API_TOKENS'] = token
        body = {'args': [1, 2], 'kwargs': {}}
        ours_port = free_port()
        with uvicorn('backend.main:create_app', ours_port, factory=True):
            stock_port = free_port()  # taken once ours listens, so the two cannot draw the same port
            ours_url = f'http://127.0.0.1:{ours_port}/api/v1/tasks/task.add/send'
            stock_url = f'http://127.0.0.1:{stock_port}/send/task.add'
            loads: dict[str, list[Load]] = {ours_url: [], stock_url: []}
            with uvicorn('bench.stock_api:app', stock_port, factory=False):
                for round_ in range(options.rounds):
                    order = (ours_url, stock_url) if round_ % 2 == 0 else (stock_url, ours_url)
                    for url in order:
                        loads[url].append(wrk(url, body, token, options.connections, options.seconds))
        ours, stock = combined(loads[ours_url]), combined(loads[stock_url])
    for label, load in (('ours', ours), ('stock FastAPI + send_task', stock)):
        print(
            f'API send, {label}: {load.rate:,.0f} req/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, '
            f'errors {load.errors}'
        )
    print(f'API send ratio (ours / stock): {ours.rate / stock.rate:.2f}x')
    if ours.errors:
        raise SystemExit(f'{ours.errors} requests to our API failed')


if __name__ == '__main__':
    main()
