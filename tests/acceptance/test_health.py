"""`fba health`: exit 0 only when the broker, the database and at least one worker answer; one line per check."""

import os
import subprocess
import sys
import time

import pytest

from tests.support.beat import start_beat
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


def fba_health(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, '-m', 'backend.cli', 'health', *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def verdicts(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{check: 'ok' | 'FAIL'} from the printed lines."""
    return {line.split()[1]: line.split()[0] for line in done.stdout.splitlines() if line.strip()}


@pytest.mark.broker
def test_health_passes_when_broker_database_and_a_worker_answer(worker: WorkerProcess) -> None:
    done = fba_health('--timeout', '5')
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done) == {'broker': 'ok', 'database': 'ok', 'worker': 'ok'}
    assert worker.name in done.stdout


@pytest.mark.broker
def test_health_counts_workers_only_and_lists_beat_apart(worker: WorkerProcess) -> None:
    # Given a worker and a beat answering ping under Celery's beat node name
    beat = start_beat(argv=[sys.executable, '-m', 'backend.cli', 'beat', '--hostname', 'celerybeat-health@%h'])
    try:
        wait_for(lambda: 'celerybeat-health@' in fba_health('--only', 'worker', '--timeout', '2').stdout, timeout=60)
        # When health runs
        done = fba_health('--only', 'worker', '--timeout', '2')
    finally:
        beat.stop()
    # Then only the worker counts, and beat is named apart
    assert done.returncode == 0, done.stdout
    assert f'1 worker(s) answered ping: {worker.name}; beat answered too: celerybeat-health@' in done.stdout


@pytest.mark.rabbitmq_only
@pytest.mark.broker
def test_health_fails_when_no_worker_answers(empty_vhost: str) -> None:
    done = fba_health('--timeout', '2', env={'CELERY_RABBITMQ_VHOST': empty_vhost})
    assert done.returncode == 1
    assert verdicts(done) == {'broker': 'ok', 'database': 'ok', 'worker': 'FAIL'}
    assert 'no worker answered ping within 2 s' in done.stdout


@pytest.mark.broker
def test_health_fails_fast_when_the_broker_is_down_and_names_no_secret() -> None:
    started = time.monotonic()
    done = fba_health('--timeout', '2', env={'CELERY_RABBITMQ_PORT': '1', 'REDIS_PORT': '1'})
    assert done.returncode == 1
    assert verdicts(done)['broker'] == 'FAIL'
    assert verdicts(done)['database'] == 'ok'
    assert time.monotonic() - started < 30
    assert 'guest:guest' not in done.stdout


def test_health_only_runs_the_chosen_checks() -> None:
    done = fba_health('--only', 'database', '--timeout', '2')
    assert done.returncode == 0, done.stdout
    assert verdicts(done) == {'database': 'ok'}


def test_health_refuses_an_unknown_check() -> None:
    done = fba_health('--only', 'kafka')
    assert done.returncode == 1
    assert 'choose from broker, database, worker, flower, api' in ' '.join(done.stderr.split())


def test_health_api_names_the_url_it_tried() -> None:
    done = fba_health('--only', 'api', '--api-url', 'http://127.0.0.1:1', '--timeout', '2')
    assert done.returncode == 1
    assert 'API at http://127.0.0.1:1/api/v1/monitoring/health did not answer' in done.stdout
