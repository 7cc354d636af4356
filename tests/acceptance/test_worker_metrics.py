"""`fba worker --metrics-port`: Prometheus counts per task name from a prefork worker match the tasks it ran."""

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import Spawned, free_port, spawn
from tests.support.wait import wait_for

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
PROBE_TASKS = """
from backend.app.task.tasks.base import task


@task(name='metricsprobe.fail_always')
def fail_always() -> None:
    raise ValueError('this task always fails')


@task(name='metricsprobe.retry_once', bind=True, max_retries=3)
def retry_once(self) -> str:
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return 'second time lucky'
"""


def scrape(port: int) -> dict[tuple[str, str], float]:
    """{(sample name, task label): value} of the fba_task_* samples the worker serves."""
    import urllib.request

    with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, sample.labels.get('task', '')): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith('fba_task_') and 'le' not in sample.labels
    }


@pytest.fixture
def metrics_worker(tmp_path: Path, celery_app: Any, private_queue: str) -> Iterator[tuple[Spawned, int]]:
    """A prefork worker (2 children) on a private queue, from a tree with two extra drop-in tasks."""
    shutil.copytree(ROOT / 'backend', tmp_path / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    feature = tmp_path / 'backend' / 'app' / 'task' / 'tasks' / 'metricsprobe'
    feature.mkdir()
    (feature / '__init__.py').write_text('')
    (feature / 'tasks.py').write_text(PROBE_TASKS)
    port = free_port()
    node = f'test-metrics-{uuid.uuid4().hex[:8]}@{socket.gethostname()}'
    argv = [sys.executable, '-m', 'backend.cli', 'worker', '--queues', private_queue, '--pool', 'prefork']
    argv += ['--concurrency', '2', '--hostname', node, '--metrics-port', str(port)]
    env = {**os.environ, 'PYTHONPATH': str(tmp_path)}
    worker = spawn('worker', argv, env=env, cwd=tmp_path, log_dir=tmp_path)

    def answers() -> bool:
        worker.assert_alive()
        return bool(celery_app.control.ping(destination=[node], timeout=0.5))

    wait_for(answers, timeout=90, what=f'worker {node} to answer ping')
    yield worker, port
    worker.stop()


def test_worker_metrics_count_every_outcome_per_task_name(
    metrics_worker: tuple[Spawned, int], celery_app: Any, private_queue: str
) -> None:
    # Given a prefork worker serving metrics
    _, port = metrics_worker
    # When it runs 3 successes, 2 failures and a task that retries once and then succeeds
    results = [celery_app.send_task('task.add', args=[i, 1], queue=private_queue) for i in range(3)]
    results += [celery_app.send_task('metricsprobe.fail_always', queue=private_queue) for _ in range(2)]
    results.append(celery_app.send_task('metricsprobe.retry_once', queue=private_queue))
    for result in results:
        result.get(timeout=60, interval=0.05, propagate=False)
    # Then every count matches what ran
    expected = {
        ('fba_task_received_total', 'task.add'): 3,
        ('fba_task_succeeded_total', 'task.add'): 3,
        ('fba_task_runtime_seconds_count', 'task.add'): 3,
        ('fba_task_received_total', 'metricsprobe.fail_always'): 2,
        ('fba_task_failed_total', 'metricsprobe.fail_always'): 2,
        ('fba_task_runtime_seconds_count', 'metricsprobe.fail_always'): 2,
        ('fba_task_received_total', 'metricsprobe.retry_once'): 2,
        ('fba_task_retried_total', 'metricsprobe.retry_once'): 1,
        ('fba_task_succeeded_total', 'metricsprobe.retry_once'): 1,
        ('fba_task_runtime_seconds_count', 'metricsprobe.retry_once'): 2,
        ('fba_task_in_progress', 'task.add'): 0,
        ('fba_task_in_progress', 'metricsprobe.retry_once'): 0,
    }

    def counts_match() -> bool:
        seen = scrape(port)
        return all(seen.get(key) == value for key, value in expected.items())

    try:
        wait_for(counts_match, timeout=30, interval=0.2, what='the metrics to count every run')
    except AssertionError:
        pytest.fail(f'expected {expected}, worker serves {scrape(port)}')


def test_worker_with_a_taken_metrics_port_stops_with_one_sentence(private_queue: str) -> None:
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, '-m', 'backend.cli', 'worker', '-Q', private_queue, '--metrics-port', str(port)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f'Error: Cannot serve metrics on 127.0.0.1:{port}: Address already in use.'
    ]
