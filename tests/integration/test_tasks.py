"""Tasks end to end through the real broker, a real worker and the PostgreSQL result backend."""

import json
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from kombu import Connection, Exchange, Producer

from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker


def test_sync_task_result_is_stored_in_postgresql(
    celery_app: Any, worker: WorkerProcess, pg: psycopg.Connection
) -> None:
    result = celery_app.send_task('task.add', args=[2, 3])
    assert result.get(timeout=30, interval=0.05) == 5
    row = pg.execute('SELECT status, name, worker, runtime FROM task_result WHERE task_id = %s', [result.id]).fetchone()
    assert row is not None
    status, name, worker_name, runtime = row
    assert (status, name, worker_name) == ('SUCCESS', 'task.add', worker.name)
    assert runtime is not None and runtime >= 0


def test_async_task_reuses_the_worker_loop_and_engine_across_calls(
    celery_app: Any, worker: WorkerProcess, pg: psycopg.Connection
) -> None:
    # Given an async task that writes through the async SQLAlchemy engine
    path = f'/items/{uuid.uuid4()}'
    kwargs = {'method': 'POST', 'path': path, 'status_code': 201, 'cost_ms': 3.5}
    # When it runs twice in a row in the same worker process
    first = celery_app.send_task('db_log.log_operation', kwargs=kwargs).get(timeout=30, interval=0.05)
    second = celery_app.send_task('db_log.log_operation', kwargs=kwargs).get(timeout=30, interval=0.05)
    # Then both succeed (a per-task loop would break the pooled asyncpg connection) and both rows exist
    assert second > first
    count = pg.execute('SELECT count(*) FROM task_opera_log WHERE path = %s', [path]).fetchone()
    assert count == (2,)
    assert 'attached to a different loop' not in worker.log()


def test_login_log_task_records_the_attempt(celery_app: Any, worker: WorkerProcess, pg: psycopg.Connection) -> None:
    name = f'user-{uuid.uuid4().hex[:6]}'
    row_id = celery_app.send_task('db_log.log_login', kwargs={'username': name, 'succeeded': False, 'ip': '10.0.0.1'})
    row_id = row_id.get(timeout=30, interval=0.05)
    assert pg.execute('SELECT username, succeeded FROM task_login_log WHERE id = %s', [row_id]).fetchone() == (
        name,
        False,
    )


def test_email_task_writes_the_rendered_message_to_the_outbox(
    celery_app: Any, worker: WorkerProcess, pg: psycopg.Connection
) -> None:
    result = celery_app.send_task('email.send_welcome', kwargs={'email': 'ann@example.org', 'name': 'Ann'})
    row_id = result.get(timeout=30, interval=0.05)
    recipient, body, task_id = pg.execute(
        'SELECT recipient, body, task_id FROM task_email_outbox WHERE id = %s', [row_id]
    ).fetchone()
    assert (recipient, task_id) == ('ann@example.org', result.id)
    assert body.startswith('Hello Ann,')


def test_failure_is_reraised_with_its_type_and_logged_with_secrets_masked(
    celery_app: Any, worker: WorkerProcess
) -> None:
    result = celery_app.send_task('task.add', args=['a'], kwargs={'y': 1, 'password': 'hunter2'})
    with pytest.raises(TypeError):
        result.get(timeout=30, interval=0.05)
    assert result.state == 'FAILURE'
    log = wait_for(
        lambda: f'event=task.failed task=task.add id={result.id}' in worker.log() and worker.log(),
        what='the failure log line',
    )
    assert "'password': '***'" in log
    assert 'hunter2' not in log


def test_result_is_readable_from_another_process(celery_app: Any, worker: WorkerProcess) -> None:
    result = celery_app.send_task('task.add', args=[20, 22])
    result.get(timeout=30, interval=0.05)
    code = (
        'from backend.app.task.celery import celery_app\n'
        f'r = celery_app.AsyncResult({result.id!r})\n'
        'print(r.state, r.result, r.name)\n'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ['SUCCESS', '42', 'task.add']


def test_pickle_message_is_refused_and_the_worker_keeps_working(
    celery_app: Any, make_worker: Any, private_queue: str
) -> None:
    # Given a worker on a private queue
    worker = make_worker(queues=private_queue)
    task_id = str(uuid.uuid4())
    # When a pickled task message is published to it
    with Connection(celery_app.conf.broker_url) as conn:
        producer = Producer(conn)
        producer.publish(
            ((), {}, {}),
            exchange=Exchange(''),
            routing_key=private_queue,
            serializer='pickle',
            headers={'task': 'task.ping', 'id': task_id, 'lang': 'py', 'argsrepr': '()', 'kwargsrepr': '{}'},
            declare=[celery_app.amqp.queues[private_queue]] if private_queue in celery_app.amqp.queues else [],
        )
    # Then the worker refuses to decode it, never runs it, and still serves JSON tasks
    wait_for(
        lambda: 'ContentDisallowed' in worker.log() or 'Refusing to deserialize' in worker.log(),
        what='the worker to refuse the pickle message',
    )
    assert celery_app.send_task('task.ping', queue=private_queue).get(timeout=30, interval=0.05) == 'pong'
    assert celery_app.AsyncResult(task_id).state == 'PENDING'
    assert f'id={task_id}' not in worker.log()


def test_serialisation_is_json_only(celery_app: Any) -> None:
    conf = celery_app.conf
    assert (conf.task_serializer, conf.result_serializer) == ('json', 'json')
    assert list(conf.accept_content) == ['json']
    assert list(conf.result_accept_content) == ['json']
    assert json.loads(celery_app.backend.encode({'a': 1})) == {'a': 1}
