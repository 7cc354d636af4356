"""End-to-end throughput: no-op tasks sent until every result is stored in PostgreSQL.

Ours: our worker settings for throughput (one solo process per core, a deep
prefetch, no STARTED write) and our result backend. Baseline: stock Celery
5.7 with `db+postgresql+psycopg://`, prefork -c 2, measured in the same run on
the same broker and database. Run: `.venv/bin/python -m bench.throughput`.
"""

import argparse
import time
from typing import Any

import psycopg

from bench.support import private_services, report, workers
from tests.support.wait import wait_for

OURS_APP = 'backend.app.task.celery:celery_app'
STOCK_APP = 'bench.stock_app:app'
#: Our worker setup for throughput: every one of these is a documented setting with a safe default.
OURS_ENV = {
    'CELERY_WORKER_POOL': 'solo',
    'CELERY_WORKER_PREFETCH_MULTIPLIER': '200',
    'TASK_TRACK_STARTED': 'false',
    'TASK_RESULT_BATCH': '100',
}


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
    from backend.app.task.messaging.dispatch import publish_many
    from backend.core.conf import get_settings

    dsn = get_settings().database_dsn
    queue = f'bench-{name.replace(".", "-")}'
    with workers(app, app_path, processes, pool=pool, concurrency=concurrency, queue=queue, env=env):
        before = stored(dsn, table)
        start = time.perf_counter()
        publish_many(app, name, [([], {})] * count, queue=queue)
        wait_for(
            lambda: stored(dsn, table) - before >= count, timeout=110, interval=0.1, what=f'{count} {name} results'
        )
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=20_000)
    parser.add_argument('--baseline-tasks', type=int, default=1_500)
    parser.add_argument('--redis-tasks', type=int, default=20_000)
    options = parser.parse_args()
    with private_services('rabbitmq'):
        from backend.app.task.celery import celery_app
        from bench.stock_app import app as stock_app

        stock_app.backend.ResultSession().close()  # creates the stock tables before the first count

        stock = measure(
            stock_app, STOCK_APP, 'bench.noop', options.baseline_tasks, 'celery_taskmeta', 'prefork', 2, 1, {}
        )
        ours = measure(celery_app, OURS_APP, 'task.ping', options.tasks, 'task_result', 'solo', 1, 2, OURS_ENV)
        report('throughput, RabbitMQ', ours, stock, 'tasks/s', 'stock Celery db backend (prefork -c 2)')
        print(f'  ours: 2 solo worker processes with {" ".join(f"{k}={v}" for k, v in OURS_ENV.items())}')
    with private_services('redis'):
        from backend.core.conf import get_settings

        get_settings.cache_clear()
        from backend.app.task.celery import create_celery_app

        redis_app = create_celery_app()
        ours_redis = measure(
            redis_app, OURS_APP, 'task.ping', options.redis_tasks, 'task_result', 'solo', 1, 2, OURS_ENV
        )
        report('throughput, Redis broker', ours_redis, ours, 'tasks/s', 'ours on RabbitMQ (same settings)')


if __name__ == '__main__':
    main()
