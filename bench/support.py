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
from collections.abc import Iterator
from typing import Any

from tests.support.processes import Spawned
from tests.support.services import TestRun, require_services
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
    app: Any, app_path: str, count: int, *, pool: str, concurrency: int, queue: str, env: dict[str, str] | None = None
) -> Iterator[list[Spawned]]:
    """`count` worker processes of `app_path`, ready (they answered ping) when the block starts; stopped after it."""
    quiet = ['--loglevel=WARNING', '--without-heartbeat']
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


def report(title: str, ours: float, baseline: float, unit: str, baseline_name: str) -> None:
    print(f'{title}: ours {ours:,.0f} {unit}, {baseline_name} {baseline:,.0f} {unit}, ratio {ours / baseline:.2f}x')
