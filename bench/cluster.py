"""Throughput against the three-node RabbitMQ cluster with quorum queues, with 1, 2 and 4 worker processes.

No-op tasks sent with `publish_many` to running workers, timed from the first send until every result is
stored in PostgreSQL, on quorum queues replicated on three local nodes (`scripts/rabbitmq-cluster.sh`, started
here unless it runs, stopped after if started here). Each worker process starts on another node of the
fail-over list. Baseline in the same run: 2 processes on the machine's single RabbitMQ node, classic queues.
Run: `.venv/bin/python -m bench.cluster [--tasks N]`.
"""

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.support import private_services
from bench.throughput import OURS_APP, OURS_ENV, stored
from tests.support.cluster import NODES, Cluster, cluster_vhost
from tests.support.processes import Spawned
from tests.support.wait import wait_for
from tests.support.worker import start_worker, wait_until_ready


@contextmanager
def spread_workers(app: Any, count: int, queue: str, cluster: Cluster | None) -> Iterator[list[Spawned]]:
    """`count` solo workers, the i-th trying cluster node i first (all on the single node without a cluster)."""
    started = []
    for i in range(count):
        env = {**OURS_ENV, **(cluster.environ(first=NODES[i % len(NODES)]) if cluster else {})}
        started.append(
            start_worker(
                app, app_path=OURS_APP, queues=queue, extra_env=env, extra_args=['--loglevel=WARNING'], wait=False
            )
        )
    try:
        for worker in started:
            wait_until_ready(app, worker, timeout=180)
        yield started
    finally:
        for worker in started:
            worker.stop()


def rate(app: Any, count: int, processes: int, cluster: Cluster | None) -> float:
    from backend.app.task.messaging.dispatch import publish_many
    from backend.core.conf import get_settings

    dsn = get_settings().database_dsn
    queue = f'bench-cluster-{processes}'
    with spread_workers(app, processes, queue, cluster):
        before = stored(dsn, 'task_result')
        start = time.perf_counter()
        publish_many(app, 'task.ping', [([], {})] * count, queue=queue)
        wait_for(
            lambda: stored(dsn, 'task_result') - before >= count, timeout=300, interval=0.2, what=f'{count} results'
        )
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=5_000)
    options = parser.parse_args()
    with private_services('rabbitmq') as run:
        from backend.app.task.celery import create_celery_app
        from backend.core.conf import Settings

        single = rate(create_celery_app(Settings()), options.tasks, 2, None)
        print(f'single node, classic queues, 2 worker processes: {single:,.0f} tasks/s')
        with cluster_vhost(run.vhost) as cluster:
            os.environ.update(cluster.environ())
            app = create_celery_app(Settings())
            for processes in (1, 2, 4):
                figure = rate(app, options.tasks, processes, cluster)
                print(f'3-node cluster, quorum queues, {processes} worker process(es): {figure:,.0f} tasks/s')
        print(f'  each worker: {" ".join(f"{k}={v}" for k, v in OURS_ENV.items())}; {options.tasks} tasks per figure')


if __name__ == '__main__':
    main()
