"""`fba up`: API, worker, beat and Flower as one supervised group, and a status table once all answer.

`run_stack(env=...)` is the seam for other ways of starting the stack (e.g.
embedded servers): the variables it gets go to this process and every child.
"""

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from backend.app.task.constants import BEAT_NODE_PREFIX
from backend.cli import up_file
from backend.cli.health import API_HEALTH_PATH, http_get
from backend.cli.pools import solo_process_count, throughput_nodes
from backend.cli.supervisor import Supervisor
from backend.core.conf import Settings, get_settings

PROBE_TIMEOUT = 2.0


@dataclass
class Stack:
    settings: Settings
    api_port: int
    flower_port: int
    worker_node: str
    beat_node: str

    @property
    def worker_nodes(self) -> list[str]:
        """The worker part's node names: one, or one per solo process of the throughput profile."""
        processes = solo_process_count()
        return throughput_nodes(self.worker_node, processes) if processes else [self.worker_node]

    @property
    def api_url(self) -> str:
        return f'http://127.0.0.1:{self.api_port}'

    @property
    def flower_url(self) -> str:
        address = self.settings.FLOWER_ADDRESS
        return f'http://{"127.0.0.1" if address in ("", "0.0.0.0") else address}:{self.flower_port}'

    def commands(self) -> dict[str, list[str]]:
        fba = [sys.executable, '-m', 'backend.cli']
        return {
            'api': [*fba, 'api', '--port', str(self.api_port)],
            'worker': [*fba, 'worker', '--hostname', self.worker_node],
            'beat': [*fba, 'beat', '--hostname', self.beat_node],
            'flower': [*fba, 'flower', '--port', str(self.flower_port)],
        }

    def status_when_ready(self) -> Table | None:
        """The status table once every part answers its health check; None until then."""
        if http_get(self.api_url + API_HEALTH_PATH, PROBE_TIMEOUT) != 200:
            return None
        if http_get(self.flower_url + '/healthcheck', PROBE_TIMEOUT) != 200:
            return None
        from backend.app.task.celery import celery_app

        workers = self.worker_nodes
        nodes = [*workers, self.beat_node]
        if len(celery_app.control.ping(destination=nodes, timeout=1)) < len(nodes):
            return None
        inspect = celery_app.control.inspect(destination=workers[:1], timeout=PROBE_TIMEOUT)
        queues: list[dict[str, Any]] = (inspect.active_queues() or {}).get(workers[0], [])
        tasks: list[str] = (inspect.registered() or {}).get(workers[0], [])
        table = Table(title='fba up: all parts answer', title_justify='left')
        for heading in ('part', 'where', 'details'):
            table.add_column(heading)
        table.add_row('api', self.api_url, f'docs {self.api_url}/docs, metrics {self.api_url}/metrics (bearer token)')
        table.add_row('console', f'{self.api_url}/console', 'sign in with an API token')
        table.add_row('flower', self.flower_url, 'login FLOWER_BASIC_AUTH')
        port = self.settings.METRICS_PORT
        worker_metrics = f'http://127.0.0.1:{port}/metrics' if port else 'off (set METRICS_PORT to serve them)'
        table.add_row('worker metrics', worker_metrics, 'Prometheus, per task name')
        table.add_row('worker', ', '.join(workers), f'queues {", ".join(q["name"] for q in queues)}')
        table.add_row('', '', f'{len(tasks)} tasks: {", ".join(sorted(tasks))}')
        table.add_row('beat', self.beat_node, 'answers ping while it ticks')
        up_file.write_urls({'api': self.api_url, 'console': f'{self.api_url}/console', 'flower': self.flower_url})
        return table


def run_stack(*, api_port: int = 8000, flower_port: int | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the four parts until Ctrl-C or until one exits; returns the exit code for `fba up`."""
    if env:
        os.environ.update(env)
        get_settings.cache_clear()
    settings = get_settings()
    suffix = f'{os.getpid()}@{socket.gethostname()}'
    stack = Stack(
        settings=settings,
        api_port=api_port,
        flower_port=flower_port or settings.FLOWER_PORT,
        worker_node=f'up-worker-{suffix}',
        beat_node=f'{BEAT_NODE_PREFIX}-up-{suffix}',
    )
    try:
        return Supervisor(stack.commands(), env=dict(os.environ)).run(ready=stack.status_when_ready)
    finally:
        up_file.remove()
