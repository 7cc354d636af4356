"""End-to-end throughput: a queue of no-op tasks, filled before the workers start, drained into PostgreSQL.

The issue's method: each round fills the set-up's queue first, then starts its
workers, and the rate runs from the first to the last stored result (so neither
publishing nor worker start-up is timed); the worker CPU per task is the
workers' whole use less what they spend starting on an empty queue. RabbitMQ,
four set-ups on the same broker and database: stock Celery 5.7 with
`db+postgresql+psycopg://` as `celery worker -c 2` (its defaults: prefork) and
tuned (two solo processes, prefetch multiplier 200; it writes no STARTED state
by default and has no result batching); ours as `fba worker` with the default
settings, and as `fba worker --profile throughput` (two solo processes, see
`WORKER_PROFILES`). Ratios: defaults against defaults, and the profile against
the better stock run. Run: `.venv/bin/python -m bench.throughput`.
"""

import argparse
import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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
#: Starts a set-up's workers on its queue; the block runs while they are up, with their process ids.
Starter = Callable[[], AbstractContextManager[list[int]]]


def stored(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE status = 'SUCCESS'").fetchone()
        return int(row[0]) if row else 0


def stored_span(dsn: str, table: str, task_ids: list[str]) -> float:
    """Seconds from the first to the last of these tasks' stored results."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT min(date_done), max(date_done) FROM {table} WHERE status = 'SUCCESS' AND task_id = ANY(%s)",
            [task_ids],
        ).fetchone()
    assert row is not None and row[0] is not None
    return float((row[1] - row[0]).total_seconds())


def startup_cpu(start: Starter) -> float:
    """CPU seconds the set-up's workers spend starting on an empty queue, until they answer ping."""
    with start() as pids:
        return tree_cpu_seconds(pids)


def drain(
    app: Any, name: str, count: int, table: str, queue: str, start: Starter, startup: float = 0.0
) -> tuple[float, float]:
    """Fill `queue` with `count` calls, start the workers, wait for every result: (tasks/s, worker CPU ms/task).

    The CPU is the workers' whole use minus `startup`: a solo worker busy with a backlog answers ping only between
    tasks, so no moment after its start-up can be told apart from outside.
    """
    from backend.app.task.messaging.dispatch import publish_many
    from backend.core.conf import get_settings

    dsn = get_settings().database_dsn
    before = stored(dsn, table)
    task_ids = publish_many(app, name, [([], {})] * count, queue=queue)
    with start() as pids:
        wait_for(lambda: stored(dsn, table) - before >= count, timeout=300, interval=0.1, what=f'{count} results')
        cpu = (tree_cpu_seconds(pids) - startup) / count * 1000
    return (count - 1) / stored_span(dsn, table, task_ids), cpu


def solo_workers(
    app: Any, app_path: str, queue: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Starter:
    """Two solo worker processes started with `celery -A app_path worker`."""
    return lambda: pids(workers(app, app_path, 2, pool='solo', concurrency=1, queue=queue, env=env, args=args))


@contextlib.contextmanager
def pids(block: AbstractContextManager[Any]) -> Iterator[list[int]]:
    """The process ids of the workers a `workers`/`fba_worker` block started."""
    with block as started:
        yield [process.proc.pid for process in (started if isinstance(started, list) else [started])]


def measure(app: Any, app_path: str, name: str, count: int, table: str, env: dict[str, str]) -> float:
    """Tasks per second of two solo workers of `app_path` with `env`, on a queue of their own."""
    queue = f'bench-{name.replace(".", "-")}'
    return drain(app, name, count, table, queue, solo_workers(app, app_path, queue, env))[0]


@dataclass
class Run:
    """One of the compared set-ups and its figures so far (a rate and a CPU cost per round)."""

    label: str
    app: Any
    task: str
    table: str
    count: int
    queue: str
    start: Starter
    startup: float | None = None
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self) -> None:
        if self.startup is None:
            self.startup = startup_cpu(self.start)
        rate, cpu = drain(self.app, self.task, self.count, self.table, self.queue, self.start, self.startup)
        self.rates.append(rate)
        self.cpu.append(cpu)

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def cpu_per_task(self) -> float:
        """Milliseconds of worker CPU per task, the least of the rounds."""
        return min(self.cpu)


def rabbitmq_runs(options: argparse.Namespace) -> list[Run]:
    """Stock defaults, stock tuned, ours with the defaults, ours with the throughput profile."""
    from backend.app.task.celery import celery_app
    from bench.stock_app import app as stock_app

    stock_app.backend.ResultSession().close()  # creates the stock tables before the first count
    stock = ('bench.noop', 'celery_taskmeta', options.baseline_tasks)

    def stock_default() -> AbstractContextManager[list[int]]:
        return pids(workers(stock_app, STOCK_APP, 1, pool='prefork', concurrency=2, queue='bench-stock'))

    def ours(queue: str, *args: str) -> Starter:
        return lambda: pids(fba_worker(celery_app, 2 if args else 1, queue=queue, args=args))

    return [
        Run(
            'stock Celery db backend, defaults (celery worker -c 2: prefork)',
            stock_app,
            *stock,
            'bench-stock',
            stock_default,
        ),
        Run(
            f'stock Celery db backend, tuned (2 solo processes, {STOCK_TUNED})',
            stock_app,
            *stock,
            'bench-tuned',
            solo_workers(stock_app, STOCK_APP, 'bench-tuned', args=(STOCK_TUNED,)),
        ),
        Run(
            'ours, defaults (fba worker)',
            celery_app,
            'task.ping',
            'task_result',
            options.default_tasks,
            'bench-ours',
            ours('bench-ours'),
        ),
        Run(
            'ours, fba worker --profile throughput (2 solo processes)',
            celery_app,
            'task.ping',
            'task_result',
            options.tasks,
            'bench-profile',
            ours('bench-profile', '--profile', 'throughput'),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=20_000, help='tasks per round of the throughput-profile run')
    parser.add_argument('--default-tasks', type=int, default=5_000, help='tasks per round of ours with the defaults')
    parser.add_argument('--baseline-tasks', type=int, default=2_000, help='tasks per round of each stock Celery run')
    parser.add_argument('--rounds', type=int, default=3, help='rounds of the four runs, in turn; the best one counts')
    parser.add_argument('--redis-tasks', type=int, default=20_000)
    options = parser.parse_args()
    with private_services('rabbitmq'):
        runs = rabbitmq_runs(options)
        # In turn, several times: load from other processes on the machine comes and goes, and a rate is the best
        # of its rounds, so a busy moment does not decide a ratio.
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
        ours_redis = measure(redis_app, OURS_APP, 'task.ping', options.redis_tasks, 'task_result', OURS_ENV)
        report('throughput, Redis broker', ours_redis, profile.best, 'tasks/s', 'ours on RabbitMQ with the profile')


if __name__ == '__main__':
    main()
