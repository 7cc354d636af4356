"""`fba dlq`, `fba worker --queues` and `fba workers --pools` run as subprocesses, as users run them."""

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backend.app.task.reliability import dead_letters
from tests.acceptance.test_cli import assert_one_sentence_error, fba
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


@pytest.fixture(autouse=True, scope='module')
def _close_dead_letter_connection() -> Iterator[None]:
    """The rows below are written from this process; close its connection when the module is done."""
    yield
    dead_letters._connection.reset()


def _waiting(app: Any, queue: str) -> int:
    """Messages ready on `queue` (declared passively, so nothing is created)."""
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, '-m', 'backend.cli', *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def test_dlq_list_show_and_purge_by_filter() -> None:
    # Given a dead letter whose keyword arguments hold a password
    name = f'reliability.cli_{uuid.uuid4().hex[:6]}'
    pk = dead_letters.record(
        reason='non_retryable',
        task_id=str(uuid.uuid4()),
        task_name=name,
        args=[],
        kwargs={'password': 's3cret'},
        exc=KeyError('gone'),
    )
    # When it is listed and shown
    listed = fba('dlq', 'list', '--task', name)
    shown = fba('dlq', 'show', str(pk))
    # Then both find it, and the password is masked
    assert listed.returncode == 0 and name in listed.stdout and 'non_retryable' in listed.stdout, listed.stderr
    detail = json.loads(shown.stdout)
    assert (detail['task_name'], detail['kwargs'], detail['exception_type']) == (name, {'password': '***'}, 'KeyError')
    assert 's3cret' not in shown.stdout
    # And purge needs a filter, then deletes only what it matches
    assert_one_sentence_error(fba('dlq', 'purge'), 'Give at least one filter')
    purged = fba('dlq', 'purge', '--task', name)
    assert purged.stdout.strip() == 'Deleted 1 dead letter.'
    assert_one_sentence_error(fba('dlq', 'show', str(pk)), f'No dead letter has id {pk}.')


def test_dlq_bad_filter_is_one_sentence() -> None:
    assert_one_sentence_error(fba('dlq', 'list', '--reason', 'bored'), "--reason 'bored' is not valid")
    assert_one_sentence_error(fba('dlq', 'list', '--after', 'yesterday'), "--after 'yesterday' is not valid")


@pytest.mark.broker
def test_dlq_requeue_sends_the_task_again(celery_app: Any, worker: WorkerProcess) -> None:
    pk = dead_letters.record(
        reason='retries_exhausted',
        task_id=str(uuid.uuid4()),
        task_name='task.add',
        args=[40, 2],
        kwargs={},
        queue='default',
    )
    done = fba('dlq', 'requeue', str(pk))
    assert done.returncode == 0, done.stderr
    first = done.stdout.strip()
    assert celery_app.AsyncResult(first).get(timeout=60, interval=0.05) == 42
    # A second requeue is refused, naming the first one, unless --again
    assert_one_sentence_error(fba('dlq', 'requeue', str(pk)), f'already requeued as task {first}')
    again = fba('dlq', 'requeue', str(pk), '--again')
    assert again.returncode == 0 and again.stdout.strip() != first


@pytest.mark.broker
def test_dlq_requeue_to_a_queue_no_setting_declares_is_refused(celery_app: Any) -> None:
    # Given a dead letter of a queue since removed from TASK_QUEUES
    pk = dead_letters.record(
        reason='retries_exhausted', task_id=str(uuid.uuid4()), task_name='task.ping', args=[], kwargs={}, queue='gone'
    )
    # Then requeueing it is refused in one sentence, instead of creating a queue no worker reads
    assert_one_sentence_error(fba('dlq', 'requeue', str(pk)), "queue: 'gone' is not declared in TASK_QUEUES")


@pytest.mark.broker
def test_worker_queues_option_consumes_only_those_queues(celery_app: Any) -> None:
    # Given a worker started with --queues a,b
    a, b, c = (f'test-q{n}-{uuid.uuid4().hex[:6]}' for n in 'abc')
    name = f'queues-{uuid.uuid4().hex[:6]}@localhost'
    proc = _spawn('worker', '--queues', f'{a},{b}', '--pool', 'solo', '--hostname', name)
    try:
        wait_for(lambda: celery_app.control.ping(destination=[name], timeout=0.5), timeout=60, what='the worker')
        # When a task is sent to each of a, b and c
        results = [celery_app.send_task('task.add', args=[n, n], queue=q) for n, q in enumerate((a, b, c))]
        # Then a and b run, and c's message is still waiting
        assert [r.get(timeout=60, interval=0.05) for r in results[:2]] == [0, 2]
        assert _waiting(celery_app, c) == 1 and results[2].state == 'PENDING'
    finally:
        assert _stop(proc) == 0


@pytest.mark.broker
def test_workers_pools_start_one_worker_per_pool_with_its_concurrency(celery_app: Any) -> None:
    # Given `fba workers` with two pools, the second consuming two queues
    email, payment, refunds = (f'test-{n}-{uuid.uuid4().hex[:6]}' for n in ('email', 'payment', 'refunds'))
    proc = _spawn('workers', '--pools', f'{email}:1,{payment}+{refunds}:2')
    nodes = [f'{email}@{socket.gethostname()}', f'{payment}@{socket.gethostname()}']
    try:
        wait_for(
            lambda: len(celery_app.control.ping(destination=nodes, timeout=0.5)) == 2, timeout=90, what='both pools'
        )
        # Then each pool has its own size and its own queues
        stats = celery_app.control.inspect(destination=nodes, timeout=2).stats()
        assert {node: stats[node]['pool']['max-concurrency'] for node in nodes} == dict(zip(nodes, [1, 2], strict=True))
        active = celery_app.control.inspect(destination=nodes, timeout=2).active_queues()
        assert {node: sorted(q['name'] for q in active[node]) for node in nodes} == {
            nodes[0]: [email],
            nodes[1]: sorted([payment, refunds]),
        }
        results = [celery_app.send_task('task.ping', queue=q) for q in (email, payment, refunds)]
        assert [r.get(timeout=60, interval=0.05) for r in results] == ['pong'] * 3
    finally:
        assert _stop(proc) == 0


def test_workers_bad_pools_option_is_one_sentence() -> None:
    assert_one_sentence_error(fba('workers', '--pools', 'email:0'), "--pools item 'email:0' is not QUEUE:CONCURRENCY")
