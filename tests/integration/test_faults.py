"""Fault injection on real services: a worker killed with -9, RabbitMQ and PostgreSQL restarted mid-run.

Each test stops only what it started itself (its own worker, a private
RabbitMQ node, a private PostgreSQL cluster) and restores or removes it, so
other test runs on this machine keep their shared services.
"""

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import Celery

from backend.app.task.celery import celery_config
from backend.app.task.messaging.dispatch import publish
from backend.app.task.messaging.errors import BrokerUnavailable
from backend.core.conf import load_settings
from tests.support.beat import QueueProbe, start_beat
from tests.support.private_services import PrivatePostgres, PrivateRabbitMQ
from tests.support.reliability import INCLUDE, create_log_table, runs_per_task
from tests.support.wait import wait_for
from tests.support.worker import start_worker

pytestmark = pytest.mark.slow


@pytest.fixture
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ()
    node.start()
    yield node
    node.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.stop()


def app_for(broker_url: str) -> Celery:
    """An app with the framework's delivery settings, talking to another broker."""
    app = Celery('fault-test', set_as_current=False)
    app.conf.update({**celery_config(load_settings(None)), 'broker_url': broker_url})
    return app


@pytest.mark.rabbitmq_only
def test_kill_9_of_a_prefork_worker_loses_no_task(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given 2,000 tasks that each record their id, and a prefork worker part-way through them
    create_log_table(pg)
    run = uuid.uuid4().hex
    sent = {celery_app.send_task('reliability.record', args=[run], queue=private_queue).id for _ in range(2000)}
    first = make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    wait_for(lambda: len(runs_per_task(pg, run)) >= 500, timeout=120, what='500 tasks to run')
    # When the worker's parent and children are killed with SIGKILL, and another worker starts
    first.kill()
    ran_before_kill = len(runs_per_task(pg, run))
    make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_args=INCLUDE)
    # Then every task ran at least once and has its result stored (a result handed to the main process but not yet
    # committed left its message unacknowledged); the ones running or finished-but-unacknowledged ran again
    wait_for(lambda: set(runs_per_task(pg, run)) == sent, timeout=180, what='every task to run')
    wait_for(
        lambda: (
            pg.execute(
                "SELECT count(*) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'", [list(sent)]
            ).fetchone()
            == (len(sent),)
        ),
        timeout=60,
        what='every result',
    )
    runs = runs_per_task(pg, run)
    twice = sorted(task_id for task_id, count in runs.items() if count > 1)
    print(f'\nkill -9 after {ran_before_kill} of 2000 tasks: {len(twice)} ran twice ({sum(runs.values())} runs)')
    assert len(twice) <= 10  # at most the in-flight window: 2 children x prefetch, plus unacked results


@pytest.mark.rabbitmq_only
def test_rabbitmq_restart_mid_run_loses_no_accepted_task(
    private_rabbitmq: PrivateRabbitMQ, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given a worker and a sender on a private RabbitMQ node
    create_log_table(pg)
    run = uuid.uuid4().hex
    app = app_for(private_rabbitmq.url)
    # (settings, not CELERY_BROKER_URL: `celery worker` echoes CELERY_BROKER=rabbitmq into that variable)
    env = {'CELERY_RABBITMQ_PORT': str(private_rabbitmq.port), 'CELERY_RABBITMQ_VHOST': '/'}
    worker = start_worker(app, queues=private_queue, pool='prefork', concurrency=2, extra_env=env, extra_args=INCLUDE)
    accepted: list[str] = []
    refused: list[BrokerUnavailable] = []
    outage, done = threading.Event(), threading.Event()
    sends_in_outage: list[int] = []

    def send_until_done() -> None:
        while not done.is_set():
            if outage.is_set():
                sends_in_outage.append(1)
            try:
                accepted.append(publish(app, 'reliability.record', [run], {}, queue=private_queue))
            except BrokerUnavailable as error:
                refused.append(error)

    sender = threading.Thread(target=send_until_done)
    sender.start()
    try:
        # When RabbitMQ's application is stopped part-way and started again while sends go on
        wait_for(lambda: len(accepted) >= 50, timeout=60, what='50 accepted sends')
        private_rabbitmq.stop_app()
        outage.set()
        wait_for(lambda: len(sends_in_outage) >= 2, timeout=60, what='sends during the outage')
        private_rabbitmq.start_app()
        outage.clear()
        after_restart = len(accepted) + 50
        wait_for(lambda: len(accepted) >= after_restart, timeout=60, what='sends accepted after the restart')
        done.set()
        sender.join(60)
        # Then the sends during the outage raised BrokerUnavailable to the caller (none vanished) ...
        assert refused and all('Nothing was sent' in error.message for error in refused)
        # ... and every accepted task ran, the worker having reconnected by itself
        wait_for(lambda: set(accepted) <= set(runs_per_task(pg, run)), timeout=120, what='every accepted task to run')
        print(f'\nRabbitMQ restart: {len(accepted)} sends accepted (all ran), {len(refused)} raised BrokerUnavailable')
    finally:
        done.set()
        sender.join(60)
        worker.stop()
        app.close()


def test_postgresql_restart_mid_run_loses_no_result(
    celery_app: Any, make_worker: Any, private_postgres: PrivatePostgres, private_queue: str
) -> None:
    # Given a worker whose database (results, and the rows its tasks write) is a private cluster
    env = {
        'DATABASE_PORT': str(private_postgres.port),
        'DATABASE_NAME': 'postgres',
        'TASK_RETRY_BACKOFF_BASE': '1',
        'TASK_RETRY_MAX': '20',
    }
    subprocess.run(
        [sys.executable, '-m', 'backend.cli', 'db', 'upgrade'], env={**os.environ, **env}, check=True, timeout=120
    )
    with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
        create_log_table(conn)
    make_worker(queues=private_queue, pool='prefork', concurrency=2, extra_env=env, extra_args=INCLUDE)
    run = uuid.uuid4().hex

    def succeeded(ids: list[str]) -> bool:
        with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT count(*) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'", [ids]
            ).fetchone()
        return rows == (len(ids),)

    before = [celery_app.send_task('reliability.record', args=[run, 0.01], queue=private_queue).id for _ in range(50)]
    wait_for(lambda: succeeded(before), timeout=60, what='the first results')
    # When PostgreSQL restarts while tasks are running and more are sent
    during = [celery_app.send_task('reliability.record', args=[run, 0.05], queue=private_queue).id for _ in range(60)]
    private_postgres.restart()
    after = [celery_app.send_task('reliability.record', args=[run, 0.01], queue=private_queue).id for _ in range(50)]
    # Then every task finished with its result stored, the worker and result backend having reconnected
    wait_for(lambda: succeeded(before + during + after), timeout=120, what='every result after the restart')
    with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
        assert set(runs_per_task(conn, run)) == set(before + during + after)


@pytest.mark.rabbitmq_only
def test_beat_reconnects_by_itself_after_a_rabbitmq_restart(
    private_rabbitmq: PrivateRabbitMQ, pg: psycopg.Connection, private_queue: str
) -> None:
    private_queue = private_queue
    # Given beat on a private RabbitMQ node, publishing a one-second schedule to a queue read by a probe
    app = app_for(private_rabbitmq.url)
    env = {
        'CELERY_RABBITMQ_PORT': str(private_rabbitmq.port),
        'CELERY_RABBITMQ_VHOST': '/',
        'TASK_BEAT_POLL_SECONDS': '1',
        'TASK_BEAT_MAX_LOOP_INTERVAL': '1',
        'TASK_BEAT_REDISPATCH_SECONDS': '3',
    }
    pg.execute('DELETE FROM task_schedule')
    added = subprocess.run(
        [
            sys.executable,
            '-m',
            'backend.cli',
            'schedule',
            'add',
            'reconnect',
            'task.ping',
            '--every',
            '1',
            '--queue',
            private_queue,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    probe = QueueProbe(app, private_queue)
    beat = start_beat(env)
    try:
        wait_for(lambda: len(probe.drain()) >= 2 or not beat.alive(), timeout=60, what='two slots published')
        # When RabbitMQ's application stops for a few slots, then comes back
        private_rabbitmq.stop_app()
        wait_for(lambda: undispatched(pg) >= 2 or not beat.alive(), timeout=60, what='slots claimed in the outage')
        private_rabbitmq.start_app()
        # Then beat is still running, reconnects by itself, sends the slots it could not, and goes on ticking
        after = QueueProbe(app, private_queue)
        wait_for(lambda: undispatched(pg) == 0 and len(after.drain()) >= 3, timeout=90, what='beat to catch up')
        assert beat.alive(), beat.log()[-3000:]
        after.close()
    finally:
        beat.stop()
        with contextlib.suppress(Exception):  # its connection died with the broker
            probe.close()
        app.close()
        pg.execute('DELETE FROM task_schedule')


def undispatched(pg: psycopg.Connection) -> int:
    """Slots beat claimed but the broker has not confirmed yet."""
    row = pg.execute('SELECT count(*) FROM task_schedule_run WHERE dispatched_at IS NULL').fetchone()
    return int(row[0]) if row else 0


def test_beat_started_while_postgresql_is_down_waits_for_it(
    celery_app: Any, private_postgres: PrivatePostgres, private_queue: str
) -> None:
    private_queue = private_queue
    # Given a migrated database holding a schedule beat has to plan (so it needs the task names), then stopped
    env = {'DATABASE_PORT': str(private_postgres.port), 'DATABASE_NAME': 'postgres', 'TASK_BEAT_POLL_SECONDS': '1'}
    subprocess.run(
        [sys.executable, '-m', 'backend.cli', 'db', 'upgrade'], env={**os.environ, **env}, check=True, timeout=120
    )
    with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, queue) '
            "VALUES ('every-second', 'task.ping', 'interval', 1, 'seconds', 'UTC', %s)",
            [private_queue],
        )
    private_postgres.pause()
    probe = QueueProbe(celery_app, private_queue)
    # When beat starts without its database, which comes back a little later
    beat = start_beat(env)
    try:
        wait_for(
            lambda: 'beat: database error' in beat.log() or not beat.alive(),
            timeout=60,
            what='beat to find PostgreSQL down',
        )
        assert beat.alive(), beat.log()[-3000:]
        private_postgres.resume()
        # Then beat carries on by itself: code schedules synced, the schedule planned and sent
        wait_for(lambda: len(probe.drain()) >= 2 or not beat.alive(), timeout=60, what='slots after the outage')
        assert beat.alive(), beat.log()[-3000:]
        with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
            synced = conn.execute("SELECT source FROM task_schedule WHERE name = 'celery.backend_cleanup'").fetchone()
        assert synced == ('code',)
    finally:
        beat.stop()
        probe.close()


@pytest.mark.parametrize('pool', ['solo', 'threads', 'prefork'])
def test_a_result_not_stored_through_a_long_postgresql_outage_is_run_again_not_left_pending(
    celery_app: Any, make_worker: Any, private_postgres: PrivatePostgres, private_queue: str, pool: str
) -> None:
    # Given a worker whose result store is a private cluster
    env = {'DATABASE_PORT': str(private_postgres.port), 'DATABASE_NAME': 'postgres'}
    subprocess.run(
        [sys.executable, '-m', 'backend.cli', 'db', 'upgrade'], env={**os.environ, **env}, check=True, timeout=120
    )
    worker = make_worker(queues=private_queue, pool=pool, concurrency=1, extra_env=env)
    # When PostgreSQL is down for longer than the result backend's retries while a task runs
    private_postgres.pause()
    task_id = celery_app.send_task('task.add', args=[40, 2], queue=private_queue).id
    wait_for(
        lambda: 'back to the queue' in worker.log() or not worker.alive(),
        timeout=120,
        what='the worker to give up storing the state',
    )
    worker.assert_alive()
    private_postgres.resume()
    # Then the message was not dropped: the task ran again once PostgreSQL was back, and its result is stored

    def stored() -> tuple[str, Any] | None:
        with psycopg.connect(private_postgres.dsn, autocommit=True) as conn:
            return conn.execute('SELECT status, result FROM task_result WHERE task_id = %s', [task_id]).fetchone()

    assert wait_for(lambda: (row := stored()) and row[0] == 'SUCCESS' and row, timeout=120, what='the SUCCESS') == (
        'SUCCESS',
        42,
    )
    worker.assert_alive()
