"""What every benchmark shares: a private database/vhost/Redis db, worker subprocesses, and the report line.

A benchmark claims its slice with `tests.support.services.TestRun` (so it never
touches another run's rows or messages), points the framework at it through the
environment before importing the Celery app, and stops everything it started.
"""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.processes import Spawned, spawn
from tests.support.services import TestRun, require_services
from tests.support.wait import wait_for
from tests.support.worker import start_worker, wait_until_ready


@contextlib.contextmanager
def private_services(broker: str = 'rabbitmq', queues: tuple[str, ...] = ()) -> Iterator[TestRun]:
    """Claim a migrated database, a vhost and a Redis db for this process; drop them at the end.

    `queues` are declared besides the default ones (TASK_QUEUES): sends and schedules to others are refused.
    """
    require_services(['PostgreSQL', 'Redis', 'RabbitMQ'])
    run = TestRun.allocate()
    try:
        os.environ.update(run.environ(), CELERY_BROKER=broker)
        if queues:
            names = ['default', 'critical', 'bulk', *queues]
            os.environ['TASK_QUEUES'] = json.dumps([{'name': name} for name in names])
        subprocess.run([sys.executable, '-c', 'from backend.database import migrate; migrate.upgrade()'], check=True)
        yield run
    finally:
        run.release()


@contextlib.contextmanager
def workers(
    app: Any,
    app_path: str,
    count: int,
    *,
    pool: str,
    concurrency: int,
    queue: str,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[list[Spawned]]:
    """`count` worker processes of `app_path`, ready (they answered ping) when the block starts; stopped after it."""
    quiet = ['--loglevel=WARNING', '--without-heartbeat', *args]
    started = [
        start_worker(
            app,
            app_path=app_path,
            queues=queue,
            pool=pool,
            concurrency=concurrency,
            extra_env=env,
            extra_args=quiet,
            wait=False,
        )
        for _ in range(count)
    ]
    try:
        for worker in started:
            wait_until_ready(app, worker, timeout=90)
        yield started
    finally:
        for worker in started:
            worker.stop()


@contextlib.contextmanager
def fba_worker(
    app: Any, processes: int, *, queue: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[Spawned]:
    """`fba worker` as users type it (settings from the environment), ready once its `processes` worker nodes
    answer ping (the throughput profile starts one solo process per concurrency slot); stopped after the block."""
    base = f'bench-{uuid.uuid4().hex[:8]}'
    argv = [sys.executable, '-m', 'backend.cli', 'worker', '--loglevel=WARNING', '-Q', queue, '-n', f'{base}@localhost']
    started = spawn(base, [*argv, *args], env={**os.environ, **(env or {})})
    names = [f'{base}@localhost'] if processes == 1 else [f'{base}-{i}@localhost' for i in range(1, processes + 1)]

    def answered() -> bool:
        started.assert_alive()
        return len(app.control.ping(destination=names, timeout=0.5)) == len(names)

    try:
        wait_for(answered, timeout=90, what=f'fba worker nodes {", ".join(names)} to answer ping')
        yield started
    finally:
        started.stop()


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) used so far by the processes `roots` and every live descendant of theirs (Linux).

    Unlike a rate, this barely moves when other processes load the machine: it says what a task costs the worker.
    """
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf('SC_CLK_TCK')
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f'/proc/{entry}/stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parents[int(entry)] = int(fields[1])
        spent[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, wanted = 0.0, set(roots)
    for pid in sorted(spent):
        chain, node = [], pid
        while node and node not in wanted and node in parents and len(chain) < 64:
            chain.append(node)
            node = parents[node]
        if node in wanted:
            total += spent[pid]
    return total


def report(title: str, ours: float, baseline: float, unit: str, baseline_name: str) -> None:
    print(f'{title}: ours {ours:,.0f} {unit}, {baseline_name} {baseline:,.0f} {unit}, ratio {ours / baseline:.2f}x')
