"""`fba` as users run it: a subprocess, its exit code and what it prints."""

import json
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

import pytest
from kombu import Connection, Queue

from tests.support.cli_many import Done
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


def fba(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-m', 'backend.cli', *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_sentence_error(done: subprocess.CompletedProcess[str] | Done, expected: str) -> None:
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert expected in ' '.join(done.stderr.split())


@pytest.mark.broker
def test_task_send_wait_prints_the_result_from_postgresql(worker: WorkerProcess) -> None:
    done = fba('task', 'send', 'task.add', '--args', '[40, 2]', '--wait')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 42


@pytest.mark.broker
def test_task_send_then_status_reports_the_stored_state(worker: WorkerProcess, celery_app: Any) -> None:
    task_id = fba('task', 'send', 'task.ping').stdout.strip()
    celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05)
    status = json.loads(fba('task', 'status', task_id).stdout)
    assert (status['state'], status['result'], status['name']) == ('SUCCESS', 'pong', 'task.ping')


@pytest.mark.broker
def test_task_send_wait_reports_a_failed_task(worker: WorkerProcess) -> None:
    done = fba('task', 'send', 'email.send_welcome', '--kwargs', '{"email": "a@b.co", "name": ""}', '--wait')
    assert_one_sentence_error(done, 'name: String should have at least 1 character')


def test_task_send_to_a_queue_no_setting_declares_is_refused() -> None:
    message = "queue: 'nobody-reads' is not declared in TASK_QUEUES (default, critical, bulk)"
    assert_one_sentence_error(fba('task', 'send', 'task.ping', '--queue', 'nobody-reads'), message)
    items = '[{"args": []}]'
    assert_one_sentence_error(
        fba('task', 'send-batch', 'task.ping', '--items', items, '--queue', 'nobody-reads'), message
    )


def test_task_list_shows_every_drop_in_task() -> None:
    done = fba('task', 'list')
    assert done.returncode == 0, done.stderr
    for name in ('task.ping', 'db_log.log_operation', 'db_log.log_login', 'email.send_welcome'):
        assert name in done.stdout


@pytest.mark.broker
def test_task_revoke_keeps_the_task_from_running(worker: WorkerProcess, celery_app: Any) -> None:
    task_id = fba('task', 'send', 'task.ping', '--countdown', '5').stdout.strip()
    assert fba('task', 'revoke', task_id).returncode == 0
    assert celery_app.AsyncResult(task_id).get(timeout=30, interval=0.05, propagate=False) is not None
    assert celery_app.AsyncResult(task_id).state == 'REVOKED'


@pytest.mark.parametrize(
    ('args', 'expected'),
    [
        (['task', 'send', 'no.such_task'], "No task named 'no.such_task' is registered."),
        (['task', 'send', 'task.add', '--args', '[1,'], '--args is not valid JSON'),
        (['task', 'send', 'task.add', '--kwargs', '[1]'], '--kwargs must be a JSON object.'),
        (['task', 'send', 'task.add', '--args', '[1]'], "missing a required argument: 'y'"),
        (['task', 'send', 'task.add', '--args', '["x", 1]'], 'x: Input should be a valid number'),
    ],
)
def test_task_send_refuses_bad_input_with_one_sentence(args: list[str], expected: str) -> None:
    assert_one_sentence_error(fba(*args), expected)


@pytest.mark.broker
def test_task_send_with_the_broker_unreachable_fails_loudly() -> None:
    env = {'CELERY_RABBITMQ_PORT': '1', 'REDIS_PORT': '1'}
    assert_one_sentence_error(fba('task', 'send', 'task.ping', env=env), 'The broker did not accept task task.ping')


def test_bad_setting_stops_the_cli_with_one_line() -> None:
    done = fba('task', 'list', env={'CELERY_BROKER': 'kafka'})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Invalid setting CELERY_BROKER='kafka': Input should be 'rabbitmq' or 'redis'"
    ]


@pytest.mark.broker
def test_worker_options_override_the_settings(celery_app: Any, private_queue: str) -> None:
    # Given settings asking for a prefork pool of 2
    name = f'{private_queue}@localhost'
    argv = [
        sys.executable,
        '-m',
        'backend.cli',
        'worker',
        '--pool',
        'threads',
        '--concurrency',
        '3',
        '--queues',
        private_queue,
        '--hostname',
        name,
        '--prefetch-multiplier',
        '4',
    ]
    env = {**os.environ, 'CELERY_WORKER_POOL': 'prefork', 'CELERY_WORKER_CONCURRENCY': '2'}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # When the worker started from `fba worker` with overriding options answers
        stats = wait_for(
            lambda: celery_app.control.inspect(destination=[name], timeout=0.5).stats(),
            timeout=60,
            what='the fba worker to answer stats',
        )
        pool = stats[name]['pool']
        # Then its pool is the one the options asked for
        assert pool['implementation'].endswith('ThreadPoolExecutor') or 'thread' in pool['implementation'].lower()
        assert pool['max-concurrency'] == 3
        assert stats[name]['prefetch_count'] == 12
        assert celery_app.send_task('task.ping', queue=private_queue).get(timeout=30, interval=0.05) == 'pong'
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.rabbitmq_only
@pytest.mark.broker
def test_task_send_to_a_queue_declared_differently_fails_with_the_brokers_reason(celery_app: Any) -> None:
    # Given a queue that exists on the broker without the x-max-priority our settings give it
    name = f'legacy-{uuid.uuid4().hex[:8]}'
    with Connection(celery_app.conf.broker_url) as conn:
        Queue(name, durable=True, channel=conn.default_channel).declare()
    env = {'TASK_QUEUES': json.dumps([{'name': 'default'}, {'name': name}])}
    # When a task is sent to it, then the CLI says why in one sentence instead of a traceback
    done = fba('task', 'send', 'task.ping', '--queue', name, env=env)
    assert_one_sentence_error(
        done, "The broker refused task task.ping: PRECONDITION_FAILED - inequivalent arg 'x-max-priority'"
    )
