"""A three-node RabbitMQ cluster with quorum queues: replication, delayed delivery, the delivery limit, fail-over.

`make test-cluster` runs these (they are left out of `make test`): the cluster is started by
`scripts/rabbitmq-cluster.sh` (or reused if it runs), each run has its own vhost on it.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from backend.app.task.celery import create_celery_app
from backend.app.task.messaging.dispatch import publish_many
from backend.core.conf import Settings
from tests.support import services
from tests.support.cluster import Cluster, cluster_vhost
from tests.support.processes import Spawned, free_port, http_status, spawn
from tests.support.reliability import create_log_table, dead_letter
from tests.support.wait import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

TOKEN = 'cluster-token-0123456789abcdef'
FAULT_TASKS = 5000
BATCH = 500


@pytest.fixture(scope='module')
def cluster(test_run: services.TestRun) -> Iterator[Cluster]:
    with cluster_vhost(test_run.vhost) as running_cluster:
        yield running_cluster


def fba(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, '-m', 'backend.cli.main', *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_fba(name: str, args: list[str], env: dict[str, str]) -> Spawned:
    return spawn(name, [sys.executable, '-m', 'backend.cli.main', *args], env=env)


def wait_worker_ready(worker: Spawned, timeout: float = 180) -> None:
    def ready() -> bool:
        worker.assert_alive()
        return ' ready.' in worker.log()

    wait_for(ready, timeout=timeout, interval=0.5, what=f'{worker.name} to be ready')


def stored(pg: psycopg.Connection, task_ids: list[str]) -> int:
    row = pg.execute(
        "SELECT count(*) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'", [task_ids]
    ).fetchone()
    return int(row[0]) if row else 0


def received_after(worker: Spawned, task_id: str, sent: datetime) -> float:
    """Seconds from `sent` until the worker logged the message's arrival."""
    line = next(line for line in worker.log().splitlines() if f'{task_id}] received' in line)
    return (datetime.strptime(line[1:24], '%Y-%m-%d %H:%M:%S,%f') - sent).total_seconds()


def test_queues_are_replicated_quorum_queues_and_countdown_uses_native_delayed_delivery(
    cluster: Cluster, pg: psycopg.Connection
) -> None:
    env = {**os.environ, **cluster.environ()}
    worker = start_fba('quorum-worker', ['worker', '--pool', 'solo', '--hostname', 'quorum@localhost'], env)
    try:
        wait_worker_ready(worker)
        assert cluster.members('default') == ['fba-c1@localhost', 'fba-c2@localhost', 'fba-c3@localhost']
        sent = datetime.now()
        task_id = fba('task', 'send', 'task.add', '--kwargs', '{"x": 2, "y": 3}', '--countdown', '3', env=env).strip()
        wait_for(lambda: stored(pg, [task_id]) == 1, timeout=60, interval=0.2, what='the delayed task to run')
        # The delay was spent in the broker's delay queues: the worker got the message only once it was due
        # (a classic ETA message reaches the worker at once and waits there).
        assert received_after(worker, task_id, sent) >= 2.5
        # The same for a batch (the API's send-batch and beat publish without send_task).
        app = create_celery_app(Settings(**cluster.environ()))  # type: ignore[arg-type]
        sent = datetime.now()
        batch = publish_many(app, 'task.add', [([1, 2], {})] * 3, countdown=3)
        app.close()
        wait_for(lambda: stored(pg, batch) == 3, timeout=60, interval=0.2, what='the delayed batch to run')
        assert min(received_after(worker, batch_id, sent) for batch_id in batch) >= 2.5
        assert 'Failed to setup delayed delivery' not in worker.log()
    finally:
        worker.stop()


@pytest.fixture
def limited_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """A vhost of its own: a queue's delivery limit is fixed when the queue is declared."""
    with cluster_vhost(f'{cluster.vhost}_limit') as other:
        yield other


def test_a_message_past_the_delivery_limit_lands_in_the_dead_letter_store(
    limited_cluster: Cluster, pg: psycopg.Connection
) -> None:
    """A task that kills its (solo) worker is redelivered by the queue until the last delivery it allows."""
    cluster = limited_cluster
    create_log_table(pg)
    env = {**os.environ, **cluster.environ(), 'TASK_QUEUE_DELIVERY_LIMIT': '2'}
    args = ['worker', '--pool', 'solo', '--queues', 'critical', '--hostname', 'limit@localhost']
    worker_argv = ['--include', 'tests.support.reliability_tasks']
    app = create_celery_app(Settings(**cluster.environ(), TASK_QUEUE_DELIVERY_LIMIT=2))  # type: ignore[arg-type]
    task_id = app.send_task('reliability.crash', kwargs={'run': 'limit'}, queue='critical').id
    app.close()
    for attempt in range(3):
        worker = spawn(
            f'limit-{attempt}',
            [sys.executable, '-m', 'celery', '-A', 'backend.app.task.celery:celery_app', *args, *worker_argv],
            env=env,
        )
        try:
            wait_for(
                lambda w=worker: not w.alive() or dead_letter(pg, task_id) is not None,  # type: ignore[misc]
                timeout=180,
                interval=0.5,
                what='the crashing task to take its worker down or be dead-lettered',
            )
        finally:
            worker.stop()
        if dead_letter(pg, task_id) is not None:
            break
    letter = dead_letter(pg, task_id)
    assert letter is not None, 'the task was neither run nor dead-lettered after three deliveries'
    assert attempt == 2  # two deliveries crashed their worker; the third, the last allowed, was dead-lettered
    assert letter['reason'] == 'worker_lost'
    assert 'delivered 3 times' in letter['exception_message']


class Sender(threading.Thread):
    """Single sends through the API, one after another, recording (time, status, task id) of each."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.results: list[tuple[float, int, str | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers={'Authorization': f'Bearer {TOKEN}'}, timeout=60) as client:
            i = 0
            while not self.done.is_set():
                i += 1
                try:
                    response = client.post(f'{self.url}/api/v1/tasks/task.add/send', json={'args': [i, 0]})
                except httpx.HTTPError:
                    self.results.append((time.monotonic(), 0, None))
                    continue
                task_id = response.json().get('task_id') if response.status_code == 202 else None
                self.results.append((time.monotonic(), response.status_code, task_id))


def test_killing_the_queue_leader_loses_no_task(cluster: Cluster, pg: psycopg.Connection) -> None:
    """5,000 tasks in flight; the node leading `default` is SIGKILLed; every accepted task still ends stored."""
    fast = {
        'CELERY_WORKER_PREFETCH_MULTIPLIER': '50',
        'TASK_TRACK_STARTED': 'false',
        'TASK_RESULT_BATCH': '50',
        'API_TOKENS': TOKEN,
    }
    # Each process starts on a different node, so killing any one of them cuts some of them off.
    processes: list[Spawned] = []
    try:
        for n in (1, 2):
            env = {**os.environ, **cluster.environ(first=n), **fast}
            processes.append(
                start_fba(f'ha-worker-{n}', ['worker', '--pool', 'solo', '--hostname', f'ha{n}@localhost'], env)
            )
        for worker in processes:
            wait_worker_ready(worker)
        api_port = free_port()
        api_env = {**os.environ, **cluster.environ(first=3), **fast}
        api = start_fba('ha-api', ['api', '--port', str(api_port)], api_env)
        processes.append(api)
        url = f'http://127.0.0.1:{api_port}'
        wait_for(lambda: http_status(f'{url}/api/v1/monitoring/health') is not None, timeout=120, what='the API')
        fba('schedule', 'add', 'ha-ping', 'task.ping', '--every', '1', env=api_env)
        beat = start_fba('ha-beat', ['beat', '--hostname', 'habeat@localhost'], {**api_env})
        processes.append(beat)

        leader = cluster.leader('default')
        started = time.monotonic()
        batch_ids: list[str] = []
        with httpx.Client(headers={'Authorization': f'Bearer {TOKEN}'}, timeout=120) as client:
            for start in range(0, FAULT_TASKS, BATCH):
                items = [{'args': [i, 1]} for i in range(start, start + BATCH)]
                response = client.post(f'{url}/api/v1/tasks/task.add/send-batch', json={'items': items})
                assert response.status_code == 202, response.text
                batch_ids += response.json()['task_ids']
        sender = Sender(url)
        sender.start()
        wait_for(lambda: stored(pg, batch_ids) >= FAULT_TASKS // 5, timeout=180, interval=0.5, what='1/5 done')
        done_at_kill = stored(pg, batch_ids)
        cluster.kill(leader)
        killed, killed_wall = time.monotonic(), datetime.now(UTC)
        # Keep sending until the API has accepted sends for 10 s after the kill.
        wait_for(
            lambda: any(status == 202 and at > killed + 10 for at, status, _ in sender.results),
            timeout=120,
            interval=0.5,
            what='the API to accept sends again after the kill',
        )
        sender.done.set()
        sender.join(timeout=120)
        accepted = [task_id for _, status, task_id in sender.results if status == 202 and task_id]
        everything = batch_ids + accepted
        wait_for(
            lambda: stored(pg, everything) == len(everything),
            timeout=240,
            interval=1,
            what=f'all {len(everything)} accepted tasks to be stored (the run stopped at {stored(pg, everything)})',
        )
        finished = time.monotonic()
        for process in processes:
            process.assert_alive()
        refused = [at for at, status, _ in sender.results if status != 202]
        assert {status for _, status, _ in sender.results} <= {202, 503}, sender.results
        window = (max(refused) - min(refused)) if refused else 0.0
        assert window < 30, f'the API refused sends for {window:.1f} s'
        beat_after = pg.execute(
            'SELECT count(*) FROM task_schedule_run r JOIN task_schedule s ON s.id = r.schedule_id '
            "WHERE s.name = 'ha-ping' AND r.dispatched_at > %s + interval '5 seconds'",
            [killed_wall],
        ).fetchone()
        assert beat_after and beat_after[0] > 0, 'beat sent nothing through the surviving nodes'
        report = {
            'tasks': len(everything),
            'killed_node': f'fba-c{leader}@localhost',
            'stored_when_killed': done_at_kill,
            'api_sends_during_test': len(sender.results),
            'api_refused_503': len(refused),
            'api_refusal_window_s': round(window, 2),
            'seconds_send_to_all_stored': round(finished - started, 1),
            'seconds_kill_to_all_stored': round(finished - killed, 1),
            'at': datetime.now(UTC).isoformat(timespec='seconds'),
        }
        print('fail-over report:', json.dumps(report))
    finally:
        for process in processes:
            process.stop()
