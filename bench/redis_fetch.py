"""Throughput with Redis as broker against RabbitMQ, ours both times, same settings, same run.

The throughput benchmark's worker setup (two solo processes, prefetch 200, no
STARTED write, results batched by 100) runs the same no-op tasks first on
RabbitMQ, then on Redis, where the worker fetches many messages per round trip
(`backend.app.task.messaging.redis_fetch`). Goal: Redis at 4,000 tasks/s or more,
as fast as RabbitMQ. Run: `.venv/bin/python -m bench.redis_fetch`.
"""

import argparse

from bench.support import private_services, report
from bench.throughput import OURS_APP, OURS_ENV, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=20_000)
    options = parser.parse_args()
    with private_services('rabbitmq'):
        from backend.app.task.celery import celery_app

        rabbitmq = measure(celery_app, OURS_APP, 'task.ping', options.tasks, 'task_result', OURS_ENV)
    with private_services('redis'):
        from backend.core.conf import get_settings

        get_settings.cache_clear()
        from backend.app.task.celery import create_celery_app

        redis_app = create_celery_app()
        redis = measure(redis_app, OURS_APP, 'task.ping', options.tasks, 'task_result', OURS_ENV)
    report('throughput, Redis broker', redis, rabbitmq, 'tasks/s', 'ours on RabbitMQ')
    print(f'  both: 2 solo worker processes with {" ".join(f"{k}={v}" for k, v in OURS_ENV.items())}')


if __name__ == '__main__':
    main()
