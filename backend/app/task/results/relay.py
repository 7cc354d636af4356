"""Prefork children hand their successful results to the main process, which commits them together.

A prefork child that stores its own result waits for PostgreSQL's commit before
it reports the task done and can be given its next one: about 40 % of a short
task's time, while the main process has nothing to hand out. Instead the child
sends the result's row over a socket pair the main process opened before it
forked the pool, reports the task done at once, and takes the next task. A
thread of the main process commits whatever rows have gathered meanwhile in one
statement, and only then are their messages acknowledged, on the event loop: a
crash before the commit (of the main process, the child or PostgreSQL) leaves
the message unacknowledged, so the task runs again instead of losing its
result; a commit that fails for good puts the messages back on the queue.

A child sends its row before it reports the task done, and the main process
reads the socket before it decides on an acknowledgement, so it always knows
whether one must wait. Chord header results (the chord counter reads them), the
results of tasks acknowledged when they started, rows over `MAX_ROW_BYTES` or
with a key longer than its column, and rows the socket cannot take at once are
stored by the child itself, as before. The socket pair has no name: no other process can
write to it. A worker opens it where its look-ahead widens the QoS
(`worker/look_ahead.py`: RabbitMQ classic queues, prefetch multiplier 1), which
leaves room for the acknowledgements that wait for a commit.
"""

import collections
import dataclasses
import enum
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from celery.worker.request import Request

from backend.app.task.results.acks import ack_now, reject_now
from backend.app.task.utils.gather import gather

logger = logging.getLogger(__name__)

#: Largest row a child hands over (a datagram); a bigger result is stored by the child.
MAX_ROW_BYTES = 64 * 1024
#: Most rows in one statement.
MAX_ROWS = 500
#: Longest a warm shutdown waits for the rows handed over to be committed.
CLOSE_TIMEOUT = 10.0
#: Longest text of the `task_result` key columns (`String(155)` in `model/result.py`); a row with a longer one
#: (a message published by other code) is stored by the child, where PostgreSQL's refusal fails only its own task.
MAX_KEY_LENGTH = 155
KEY_COLUMNS = ('task_id', 'name', 'worker', 'queue')
#: How long a failed commit is remembered for the tasks it concerns that are not reported done yet (their children
#: still run hooks, or died: Celery reports a lost child after `worker_lost_wait`, 10 s by default).
FAILED_REMEMBERED_SECONDS = 120.0
#: One `store_results` row.
Row = dict[str, Any]


class Settled(enum.Enum):
    """What `ResultRelay.hold_ack` did with a request."""

    NOT_RELAYED = 'not relayed'  # no row of the task was handed over: the caller acknowledges as usual
    HELD = 'held'  # acknowledged once its row is committed (or requeued if that fails)
    REQUEUED = 'requeued'  # its row's commit had failed already: its message went back to the queue


@dataclasses.dataclass
class _Task:
    """One task id's rows handed over, and the requests waiting for their commits."""

    handed: int = 0
    uncommitted: int = 0
    committed: bool = False
    waiting: list[Request] = dataclasses.field(default_factory=list)


class ResultRelay:
    """The children's end (`send`) and the main process's end (`hold_ack`, the committing thread)."""

    def __init__(self, commit: Callable[[list[Row]], None]) -> None:
        self._commit = commit
        self._main_pid = 0
        self._receiver: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._hub: Any = None
        self._closed = False
        self._rows: queue.SimpleQueue[Row | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: Task ids with rows whose commit is not settled yet; ids whose commit failed before their requests came:
        #: how many requests are still to be requeued, and until when that is remembered.
        self._tasks: dict[str, _Task] = {}
        self._failed: dict[str, tuple[int, float]] = {}
        #: Outcomes of the commits, for the event loop: (task id, committed).
        self._outcomes: collections.deque[tuple[str, bool]] = collections.deque()

    def open(self) -> None:
        """In the main process, before the pool forks its children."""
        self._receiver, self._sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._receiver.setblocking(False)
        self._sender.setblocking(False)
        self._main_pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name='fba-result-relay', daemon=True)
        self._thread.start()

    # A child's end --------------------------------------------------------------------------------

    def send(self, row: Row) -> bool:
        """Hand `row` to the main process; False when the caller must store it itself."""
        if self._sender is None or os.getpid() == self._main_pid:
            return False
        if not all(_fits_its_column(row[column]) for column in KEY_COLUMNS):
            return False
        data = json.dumps(row).encode()
        if len(data) > MAX_ROW_BYTES:
            return False
        try:
            self._sender.send(data)
        except OSError:  # the socket's buffer is full, or the main process is gone
            return False
        return True

    # The main process's end ------------------------------------------------------------------------

    def attach(self, hub: Any) -> None:
        """Read the children's rows on the event loop (again after each reconnection, which clears its readers)."""
        if self._receiver is not None and not self._closed:
            self._hub = hub
            hub.add_reader(self._receiver, self._read)

    def hold_ack(self, request: Request) -> Settled:
        """Settle `request`'s message by its result's commit, if a row of it was handed over."""
        if self._hub is None:
            return Settled.NOT_RELAYED
        self._read()
        task = self._tasks.get(request.id)
        if task is not None:
            if request not in task.waiting:  # asked twice (a hard time limit's failure, then its timeout)
                task.waiting.append(request)
            return Settled.HELD
        if self._take_failed(request.id):
            logger.warning(
                'task %s[%s]: its result could not be stored; its message goes back to the queue',
                request.task_name,
                request.id,
            )
            _settle_one(request, committed=False)
            return Settled.REQUEUED
        return Settled.NOT_RELAYED

    def _read(self) -> None:
        assert self._receiver is not None
        while True:
            try:
                data = self._receiver.recv(MAX_ROW_BYTES)
            except BlockingIOError:
                return
            try:
                row = json.loads(data)
                task_id = row['task_id']
            except (ValueError, TypeError, KeyError):  # not a child's row: nothing here writes anything else
                logger.error('the result relay received %d bytes that are not a result row; dropped', len(data))
                continue
            task = self._tasks.setdefault(task_id, _Task())
            task.handed += 1
            task.uncommitted += 1
            self._rows.put(row)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            rows, stopping = gather(self._rows, MAX_ROWS)
            if rows:
                self._outcomes.extend(self._store(rows))
                self._hub.call_soon(self._settle)

    def _store(self, rows: list[Row]) -> list[tuple[str, bool]]:
        """Commit `rows` (a value PostgreSQL refuses is stored as its repr by the backend's write, and a row with an
        over-long key is never handed over, so no row fails the others)."""
        try:
            self._commit(rows)
        except Exception:
            logger.exception('could not store %d task results; their messages go back to the queue', len(rows))
            return [(row['task_id'], False) for row in rows]
        return [(row['task_id'], True) for row in rows]

    def _settle(self) -> None:
        """On the event loop: acknowledge the requests whose task has a row committed now, once every row of it is
        settled, or requeue them if none was; a failure with fewer requests than rows is remembered for the rest."""
        while self._outcomes:
            task_id, committed = self._outcomes.popleft()
            task = self._tasks[task_id]
            task.uncommitted -= 1
            task.committed = task.committed or committed
            if task.uncommitted:
                continue
            del self._tasks[task_id]
            for request in task.waiting:
                _settle_one(request, task.committed)
            if task.committed:
                self._failed.pop(task_id, None)
            elif task.handed > len(task.waiting):
                self._failed[task_id] = (task.handed - len(task.waiting), time.monotonic() + FAILED_REMEMBERED_SECONDS)

    def _take_failed(self, task_id: str) -> bool:
        now = time.monotonic()
        for stale in [key for key, (_, until) in self._failed.items() if until < now]:
            del self._failed[stale]
        count, until = self._failed.pop(task_id, (0, now))
        if count > 1:
            self._failed[task_id] = (count - 1, until)
        return count > 0

    def close(self) -> None:
        """Warm shutdown: commit what was handed over and settle it, so those tasks do not run again."""
        if self._closed or self._thread is None or self._hub is None:
            return
        self._closed = True
        self._read()
        self._rows.put(None)
        self._thread.join(CLOSE_TIMEOUT)
        self._settle()


def _fits_its_column(value: Any) -> bool:
    """A key PostgreSQL's `String(155)` column takes; a message published by other code may carry any JSON there."""
    return value is None or (isinstance(value, str) and len(value) <= MAX_KEY_LENGTH)


def _settle_one(request: Request, committed: bool) -> None:
    if request.acknowledged:
        return
    try:
        if committed:
            ack_now(request)
        else:
            reject_now(request, requeue=True)
    except Exception:  # a message of a channel that closed meanwhile: the broker delivers it again
        logger.warning('task %s[%s]: its message could not be settled', request.task_name, request.id, exc_info=True)


class ResultRelayStep(bootsteps.StartStopStep):
    """Consumer step: reads the children's rows on the event loop; at shutdown, after the pool has stopped and
    before the connection closes (it starts after the task consumer, so it shuts down before), commits and
    acknowledges the last ones."""

    requires = ('celery.worker.consumer.tasks:Tasks',)

    def start(self, c: Any) -> None:
        relay = getattr(c.app.backend, 'result_relay', None)
        if relay is not None and c.hub is not None:
            relay.attach(c.hub)

    def shutdown(self, c: Any) -> None:
        relay = getattr(c.app.backend, 'result_relay', None)
        if relay is not None:
            relay.close()
