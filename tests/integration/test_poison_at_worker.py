"""Poison that reaches a worker anyway (published around our checks, or returned by a task) ends as a stored
FAILURE plus an `unstorable` dead letter, on every pool, and the worker goes on with the next message."""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support.reliability import INCLUDE, create_log_table, dead_letter, publish_raw
from tests.support.reliability_tasks import POISON_RESULTS
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess, start_worker

pytestmark = pytest.mark.broker

EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}'
#: Message bodies (JSON text as another publisher writes it) and the sanitised args the dead letter keeps.
POISON_BODIES = {
    'nan': ('[[NaN, 1], {}, %s]', ['nan', 1]),
    'infinity': ('[[1, -Infinity], {}, %s]', [1, '-inf']),
    'overflow': ('[[1e400, 1], {}, %s]', ['inf', 1]),
    'huge-int': ('[[1' + '0' * 400 + ', 1], {}, %s]', ['1' + '0' * 400, 1]),
    'surrogate': ('[["\\udc00", 1], {}, %s]', ["'\\udc00'", 1]),
    'nul': ('[["a\\u0000", 1], {}, %s]', ["'a\\x00'", 1]),
}


@pytest.fixture(scope='module', params=['prefork', 'solo', 'threads'])
def pool_worker(request: pytest.FixtureRequest, celery_app: Any, test_run: Any) -> Iterator[tuple[WorkerProcess, str]]:
    with psycopg.connect(test_run.dsn, autocommit=True) as conn:
        create_log_table(conn)
    queue = f'test-poison-{uuid.uuid4().hex[:8]}'
    worker = start_worker(celery_app, queues=queue, pool=request.param, concurrency=2, extra_args=INCLUDE)
    yield worker, queue
    worker.stop()


def stored(pg: psycopg.Connection, task_id: str) -> dict[str, Any] | None:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            'SELECT status, result, args, traceback FROM task_result WHERE task_id = %s', [task_id]
        ).fetchone()
    return row if row is not None and row['status'] == 'FAILURE' else None


def test_a_poison_message_published_around_the_checks_fails_and_is_dead_lettered(
    celery_app: Any, pool_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    worker, queue = pool_worker
    # Given messages whose arguments JSON carries but PostgreSQL cannot store, published with plain kombu
    sent = {}
    for kind, (body, _) in POISON_BODIES.items():
        task_id = f'poison-{kind}-{uuid.uuid4().hex[:8]}'
        publish_raw(celery_app, queue, (body % EMBED).encode(), 'application/json', {'task': 'task.add', 'id': task_id})
        sent[kind] = task_id
    # When the worker takes them, then a healthy task
    healthy = celery_app.send_task('task.add', args=[40, 2], queue=queue)
    assert healthy.get(timeout=60, interval=0.05) == 42
    # Then each one is a stored FAILURE naming the value, and a dead letter holding a sanitised copy of its call
    for kind, task_id in sent.items():
        row = wait_for(lambda task_id=task_id: stored(pg, task_id), timeout=30, what=f'the FAILURE of {kind}')
        assert row['result']['exc_type'] == 'PoisonValue' and 'args[' in row['result']['exc_message'][0]
        # The stored call too, sanitised where PostgreSQL refuses it (jsonb keeps a huge integer exactly)
        assert row['args'] == ([10**400, 1] if kind == 'huge-int' else POISON_BODIES[kind][1])
        letter = wait_for(
            lambda task_id=task_id: dead_letter(pg, task_id), timeout=30, what=f'the dead letter of {kind}'
        )
        assert (letter['reason'], letter['task_name'], letter['args']) == (
            'unstorable',
            'task.add',
            POISON_BODIES[kind][1],
        )
        assert 'cannot carry it' in letter['exception_message']
    assert worker.alive()


def test_a_message_whose_task_id_holds_a_nul_is_failed_and_dead_lettered_under_a_readable_id(
    celery_app: Any, pool_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    worker, queue = pool_worker
    task_id = f'poison-id-{uuid.uuid4().hex[:8]}'
    body = f'[[1, 2], {{}}, {EMBED}]'.encode()
    publish_raw(celery_app, queue, body, 'application/json', {'task': 'task.add', 'id': task_id + '\x00'})
    # PostgreSQL cannot hold the NUL, so the rows carry it spelled out
    row = wait_for(lambda: stored(pg, task_id + '\\x00'), timeout=30, what='the FAILURE row')
    assert 'task_id contains the NUL character' in row['result']['exc_message'][0]
    assert wait_for(lambda: dead_letter(pg, task_id + '\\x00'), timeout=30, what='the dead letter')['reason'] == (
        'unstorable'
    )
    assert celery_app.send_task('task.add', args=[1, 2], queue=queue).get(timeout=60, interval=0.05) == 3
    assert worker.alive()


@pytest.mark.parametrize('kind', sorted(POISON_RESULTS))
def test_a_result_that_cannot_be_stored_fails_the_task_instead_of_leaving_it_pending(
    celery_app: Any, pool_worker: tuple[WorkerProcess, str], pg: psycopg.Connection, kind: str
) -> None:
    worker, queue = pool_worker
    result = celery_app.send_task('reliability.returns', args=[kind], queue=queue)
    row = wait_for(lambda: stored(pg, result.id), timeout=30, what='the FAILURE row')
    assert row['result']['exc_type'] == 'PoisonValue'
    assert 'result' in row['result']['exc_message'][0] and 'cannot carry it' in row['result']['exc_message'][0]
    letter = wait_for(lambda: dead_letter(pg, result.id), timeout=30, what='the dead letter')
    assert letter['reason'] == 'unstorable'
    assert celery_app.send_task('task.add', args=[1, 2], queue=queue).get(timeout=60, interval=0.05) == 3
    assert worker.alive()
