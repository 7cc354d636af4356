"""The three-node RabbitMQ cluster of `scripts/rabbitmq-cluster.sh`, with a vhost private to the test run."""

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'scripts' / 'rabbitmq-cluster.sh'
FIRST_PORT = 5681
NODES = (1, 2, 3)


def cluster_script(*args: str, timeout: float = 300) -> str:
    """Run the script; its one-sentence error becomes the assertion message."""
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f'rabbitmq-cluster.sh {" ".join(args)} failed: {done.stderr.strip()[-2000:]}')
    return done.stdout


def running_nodes() -> int:
    done = subprocess.run([str(SCRIPT), 'status'], capture_output=True, text=True, timeout=120)
    return len(done.stdout.splitlines()) if done.returncode == 0 else 0


@dataclass
class Cluster:
    vhost: str

    def hosts(self, first: int = 1) -> str:
        """CELERY_RABBITMQ_HOST for a process that tries node `first` first, then the others in turn."""
        order = [*NODES[first - 1 :], *NODES[: first - 1]]
        return ','.join(f'127.0.0.1:{FIRST_PORT + n - 1}' for n in order)

    def environ(self, first: int = 1) -> dict[str, str]:
        return {
            'CELERY_BROKER': 'rabbitmq',
            'CELERY_RABBITMQ_HOST': self.hosts(first),
            'CELERY_RABBITMQ_VHOST': self.vhost,
            'TASK_QUEUE_TYPE': 'quorum',
        }

    def leader(self, queue: str) -> int:
        """The node number (1-3) holding the Raft leader of a quorum queue."""
        for row in self._queues('leader'):
            if row['name'] == queue:
                return int(row['leader'].split('@')[0].removeprefix('fba-c'))
        raise AssertionError(f'queue {queue} is not in vhost {self.vhost}')

    def members(self, queue: str) -> list[str]:
        row = next(row for row in self._queues('type', 'members') if row['name'] == queue)
        assert row['type'] == 'quorum', row
        return sorted(row['members'])

    def _queues(self, *columns: str) -> list[dict[str, Any]]:
        # Listing quorum queues asks every member: slow on a loaded machine, hence the long timeout.
        out = cluster_script(
            'ctl', '1', 'list_queues', '-p', self.vhost, '-t', '120', 'name', *columns, '--formatter', 'json'
        )
        return list(json.loads(out))

    def kill(self, node: int) -> None:
        cluster_script('kill', str(node))


@contextmanager
def cluster_vhost(vhost: str) -> Iterator[Cluster]:
    """Start the cluster unless it runs already (then leave it running), with `vhost` made for the run."""
    started_here = running_nodes() == 0
    if started_here:
        cluster_script('start')
    try:
        cluster_script('ctl', '1', 'add_vhost', vhost)
        cluster_script('ctl', '1', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*')
        yield Cluster(vhost)
    finally:
        if started_here:
            cluster_script('stop')
        else:
            if running_nodes() < len(NODES):
                cluster_script('start')  # brings back a node a test killed
            cluster_script('ctl', '1', 'delete_vhost', vhost)
