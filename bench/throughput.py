"""End-to-end throughput: no-op tasks sent until every result is stored in PostgreSQL.

RabbitMQ, four runs on the same broker and database: stock Celery 5.7 with
`db+postgresql+psycopg://` as `celery worker -c 2` (its defaults: prefork) and
tuned (two solo processes, prefetch multiplier 200; it writes no STARTED state
by default and has no result batching); ours as `fba worker` with the default
settings, and as `fba worker --profile throughput` (two solo processes, see
`WORKER_PROFILES`). Ratios: defaults against defaults, and the profile against
the better stock run. Run: `.venv/bin/python -m bench.throughput`.
"""

import argparse
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.support import fba_worker, private_services, report, tree_cpu_seconds, workers
from tests.support.wait import wait_for

OURS_APP = 'backend.app.task.celery:celery_app'
STOCK_APP = 'bench.stock_app:app'
#: Our worker setup for throughput, for workers started with `celery -A` (one solo process each).
OURS_ENV = {'WORKER_PROFILE': 'throughput'}
#: Stock Celery tuned with the knobs it has: the throughput profile's pool and prefetch (see `WORKER_PROFILES`).
STOCK_TUNED = '--prefetch-multiplier=200'


def stored(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE status = 'SUCCESS'").fetchone()
        return int(row[0]) if row else 0


def measure(
    app: Any,
    app_path: str,
    name: str,
    count: int,
    table: str,
    pool: str,
    concurrency: int,
    processes: int,
    env: dict[str, str],
) -> float:
    queue = f'bench-{name.replace(".", "-")}'
    with workers(app, app_path, processes, pool=pool, concurrency=concurrency, queue=queue, env=env):
        return timed(app, name, count, table, queue)


def timed(app: Any, name: str, count: int, table: str, queue: str) -> float:
    """Tasks per second from the first send until the last result is stored."""
    from backend.app.task.messaging.dispatch import publish_many
    from backend.core.conf import get_settings

    dsn = get_settings().database_dsn
    before = stored(dsn, table)
    start = time.perf_counter()
    publish_many(app, name, [([], {})] * count, queue=queue)
    wait_for(lambda: stored(dsn, table) - before >= count, timeout=110, interval=0.1, what=f'{count} {name} results')
    return count / (time.perf_counter() - start)


@dataclass
class Run:
    """One of the compared set-ups: its workers (started once, on their own queue) and its best rate so far."""

    label: str
    app: Any
    task: str
    table: str
    count: int
    queue: str
    pids: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self) -> None:
        before = tree_cpu_seconds(self.pids)
        self.rates.append(timed(self.app, self.task, self.count, self.table, self.queue))
        self.cpu.append((tree_cpu_seconds(self.pids) - before) / self.count * 1000)

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def cpu_per_task(self) -> float:
        """Milliseconds of worker CPU per task, the least of the rounds."""
        return min(self.cpu)


def rabbitmq_runs(options: argparse.Namespace, stack: ExitStack) -> list[Run]:
    """Stock defaults, stock tuned, ours with the defaults, ours with the throughput profile; all started now."""
    from backend.app.task.celery import celery_app
    from bench.stock_app import app as stock_app

    stock_app.backend.ResultSession().close()  # creates the stock tables before the first count
    stock = ('bench.noop', 'celery_taskmeta', options.baseline_tasks)
    runs = [
        Run('stock Celery db backend, defaults (celery worker -c 2: prefork)', stock_app, *stock, 'bench-stock'),
        Run(f'stock Celery db backend, tuned (2 solo processes, {STOCK_TUNED})', stock_app, *stock, 'bench-tuned'),
        Run('ours, defaults (fba worker)', celery_app, 'task.ping', 'task_result', options.default_tasks, 'bench-ours'),
        Run(
            'ours, fba worker --profile throughput (2 solo processes)',
            celery_app,
            'task.ping',
            'task_result',
            options.tasks,
            'bench-profile',
        ),
    ]
    started = [
        stack.enter_context(workers(stock_app, STOCK_APP, 1, pool='prefork', concurrency=2, queue='bench-stock')),
        stack.enter_context(
            workers(stock_app, STOCK_APP, 2, pool='solo', concurrency=1, queue='bench-tuned', args=(STOCK_TUNED,))
        ),
        [stack.enter_context(fba_worker(celery_app, 1, queue='bench-ours'))],
        [stack.enter_context(fba_worker(celery_app, 2, queue='bench-profile', args=('--profile', 'throughput')))],
    ]
    for run, processes in zip(runs, started, strict=True):
        run.pids = [process.proc.pid for process in processes]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=10_000, help='tasks per round of the throughput-profile run')
    parser.add_argument('--default-tasks', type=int, default=3_000, help='tasks per round of ours with the defaults')
    parser.add_argument('--baseline-tasks', type=int, default=1_500, help='tasks per round of each stock Celery run')
    parser.add_argument('--rounds', type=int, default=3, help='rounds of the four runs, in turn; the best one counts')
    parser.add_argument('--redis-tasks', type=int, default=20_000)
    options = parser.parse_args()
    with private_services('rabbitmq'), ExitStack() as stack:
        runs = rabbitmq_runs(options, stack)
        # In turn, several times, with every worker already up: load from other processes on the machine comes and
        # goes, and a rate is the best of its rounds, so a busy moment does not decide a ratio.
        for _ in range(options.rounds):
            for run in runs:
                run.measure()
        stock, tuned, ours, profile = runs
        print(f'throughput, RabbitMQ, tasks/s (best of {options.rounds} rounds; all rounds in brackets):')
        for run in runs:
            rounds = ', '.join(f'{rate:,.0f}' for rate in run.rates)
            print(f'  {run.label}: {run.best:,.0f} ({rounds}); worker CPU {run.cpu_per_task:.2f} ms/task')
        report('  defaults against defaults', ours.best, stock.best, 'tasks/s', 'stock')
        report('  profile against the better stock run', profile.best, max(stock.best, tuned.best), 'tasks/s', 'stock')
        cpu = stock.cpu_per_task / ours.cpu_per_task
        print(
            f'  worker CPU per task (PostgreSQL and RabbitMQ not counted), stock defaults / ours defaults: {cpu:.2f}x'
        )
    with private_services('redis'):
        from backend.core.conf import get_settings

        get_settings.cache_clear()
        from backend.app.task.celery import create_celery_app

        redis_app = create_celery_app()
        ours_redis = measure(
            redis_app, OURS_APP, 'task.ping', options.redis_tasks, 'task_result', 'solo', 1, 2, OURS_ENV
        )
        report('throughput, Redis broker', ours_redis, profile.best, 'tasks/s', 'ours on RabbitMQ with the profile')


if __name__ == '__main__':
    main()
