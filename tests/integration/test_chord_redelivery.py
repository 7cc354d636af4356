"""Chords count each header task once, even when a counted header task is delivered again.

The backend tests call the chord-counting path the way a redelivered header
task reaches it (same task id, twice) against the real PostgreSQL, and read the
body's messages from the broker; the worker test kills a real worker after a
header task was counted and before its message was acknowledged.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import chord
from celery.app.task import Context
from celery.result import AsyncResult

from backend.app.task.crud import crud_result
from tests.support.beat import QueueProbe
from tests.support.canvas_tasks import RUNS_TABLE
from tests.support.wait import wait_for
from tests.support.worker import start_worker

pytestmark = pytest.mark.broker


@pytest.fixture
def body_queue(celery_app: Any, private_queue: str) -> Iterator[QueueProbe]:
    """The queue the chord bodies go to, read by the test instead of a worker."""
    probe = QueueProbe(celery_app, private_queue)
    yield probe
    probe.close()


class OpenChord:
    """A chord whose header tasks have finished (results stored) but were not counted yet."""

    def __init__(self, app: Any, queue: str, size: int) -> None:
        self.backend = app.backend
        self.group_id = str(uuid.uuid4())
        self.header_ids = [str(uuid.uuid4()) for _ in range(size)]
        self.body = app.signature('task.add', args=(1,), queue=queue)
        self.body.freeze()
        self.backend.apply_chord((self.group_id, [AsyncResult(i, app=app) for i in self.header_ids]), self.body)
        self.backend.set_chord_size(self.group_id, size)
        for value, task_id in enumerate(self.header_ids):
            self.backend.store_result(task_id, value, 'SUCCESS')

    def part_returns(self, n: int) -> None:
        """What the worker does once header task `n` stored its result (again, for a redelivered copy)."""
        request = Context(id=self.header_ids[n], group=self.group_id, chord=dict(self.body))
        self.backend.on_chord_part_return(request, 'SUCCESS', n)

    def counter(self, pg: psycopg.Connection) -> tuple[int, bool]:
        row = pg.execute('SELECT done, body_sent FROM task_chord WHERE group_id = %s', [self.group_id]).fetchone()
        assert row is not None
        return row[0], row[1]


def test_a_header_task_delivered_twice_counts_once(
    celery_app: Any, body_queue: QueueProbe, pg: psycopg.Connection
) -> None:
    # Given a chord of two header tasks, the first of which returns twice (acks_late + a crash before the ack)
    chord_ = OpenChord(celery_app, body_queue.name, 2)
    chord_.part_returns(0)
    chord_.part_returns(0)
    # Then it counted once and the body is not sent
    assert chord_.counter(pg) == (1, False) and body_queue.ids() == []
    # When the second header task returns
    chord_.part_returns(1)
    # Then the body is sent once, with its own frozen id (sent before the call returned: nothing more comes)
    assert body_queue.ids() == [chord_.body.id] and chord_.counter(pg) == (2, True)


def test_a_crash_between_the_last_count_and_the_body_sends_the_body_once(
    celery_app: Any, body_queue: QueueProbe, pg: psycopg.Connection
) -> None:
    # Given a chord whose last header task was counted by a worker that died before sending the body
    chord_ = OpenChord(celery_app, body_queue.name, 2)
    chord_.part_returns(0)
    crud_result.count_chord_part(chord_.backend._connection.get(), chord_.group_id, chord_.header_ids[1])
    assert chord_.counter(pg) == (2, False) and body_queue.ids() == []
    # When the last header task is delivered again (and, later, copies of both)
    chord_.part_returns(1)
    chord_.part_returns(1)
    chord_.part_returns(0)
    # Then the body went out exactly once
    assert body_queue.ids() == [chord_.body.id] and chord_.counter(pg) == (2, True)


@pytest.mark.rabbitmq_only  # Redis returns an unacknowledged message only after the visibility timeout
def test_a_worker_killed_after_a_header_task_was_counted_runs_the_body_once(
    celery_app: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    pg.execute(f'CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (task_id text NOT NULL, value jsonb NOT NULL)')
    options = {'queue': private_queue}
    canvas = chord(
        [celery_app.signature('test.die_once_after_counted', args=(i,), **options) for i in range(3)],
        celery_app.signature('test.record', **options),
    )
    extra = ['--include', 'tests.support.canvas_tasks']
    # Given a solo worker that dies after header task 0 was stored and counted, before its ack
    first = start_worker(celery_app, queues=private_queue, extra_args=extra)
    try:
        result = canvas.apply_async()
        wait_for(lambda: not first.alive(), timeout=60, what='the worker to die after counting header task 0')
    finally:
        first.stop()
    # When a new worker takes the redelivered header task 0 and the rest
    second = start_worker(celery_app, queues=private_queue, extra_args=extra)
    try:
        assert result.get(timeout=60, interval=0.1) == [0, 1, 2]
    finally:
        second.stop()
    # Then task 0 ran twice but counted once, and the body ran once
    assert pg.execute('SELECT done, size FROM task_chord WHERE group_id = %s', [result.parent.id]).fetchone() == (3, 3)
    runs = pg.execute(f'SELECT count(*) FROM {RUNS_TABLE} WHERE task_id = %s', [result.id]).fetchone()
    assert runs == (1,)
