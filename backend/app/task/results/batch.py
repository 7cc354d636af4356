"""Commit several task results in one transaction, and acknowledge their messages only after the commit.

With `TASK_RESULT_BATCH` > 1 a solo-pool worker (tasks run on the consumer's
own thread) keeps successful results in memory until `size` of them are
waiting (committed on the event loop's next turn) or `MAX_DELAY` seconds have
passed, then writes them with one round trip and one commit. A task's message
is acknowledged only after its result is committed (`BatchedRequest`), so a
crash before the commit redelivers the task instead of losing its result; if
the commit fails for good the messages go back to the queue. A warm shutdown
with results still waiting also leaves their messages to be delivered again
(the tasks run twice, as any acks_late task may). A prefork worker's children
hand theirs to the main process (`relay.py`); the threads pool stores each
result at once.
"""

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from celery.concurrency import get_implementation
from celery.concurrency.solo import TaskPool as SoloPool
from celery.exceptions import BackendStoreError, WorkerLostError
from celery.worker.request import Request
from celery.worker.state import task_ready
from kombu.asynchronous import get_event_loop
from kombu.message import Message

from backend.app.task.messaging.redis_acks import ack_many, is_redis
from backend.app.task.results.acks import ack_now, reject_now
from backend.app.task.results.relay import Settled

logger = logging.getLogger(__name__)

#: Longest a finished task waits for its batch to fill before the batch is committed anyway.
MAX_DELAY = 0.01


class ResultBatch:
    """The results waiting for one commit and the requests whose acknowledgement waits for it."""

    def __init__(self, size: int, commit: Callable[[list[dict[str, Any]]], None]) -> None:
        self.size = size
        self._commit = commit
        self._rows: list[dict[str, Any]] = []
        self._held: dict[str, list[Request]] = {}
        self._owner: int | None = None

    def enable(self) -> None:
        """Batch on this thread: the consumer thread of a solo-pool worker, where its tasks also run."""
        self._owner = threading.get_ident()
        os.register_at_fork(after_in_child=self._disown)

    def _disown(self) -> None:
        self._owner = None

    @property
    def active(self) -> bool:
        return self.size > 1 and self._owner == threading.get_ident()

    def add(self, row: dict[str, Any]) -> bool:
        """Keep `row` for the next commit; False when batching is off here and the caller must store it now."""
        hub = get_event_loop() if self.active else None
        if hub is None:
            return False
        if not self._rows:
            hub.call_later(MAX_DELAY, self.flush)
        self._rows.append(row)
        self._held.setdefault(row['task_id'], [])
        if len(self._rows) >= self.size:
            # Not now: this task's acknowledgement is still to come and must wait for (or fail with) the commit.
            hub.call_soon(self.flush)
        return True

    def hold_ack(self, request: Request) -> bool:
        """Delay `request`'s acknowledgement until its result is committed; False if nothing is pending for it."""
        held = self._held.get(request.id)
        if held is None:
            return False
        held.append(request)
        return True

    def flush(self) -> None:
        if not self._rows:
            return
        rows, held = self._rows, self._held
        self._rows, self._held = [], {}
        try:
            self._commit(rows)
        except Exception:
            logger.exception('could not store %d task results; their messages go back to the queue', len(rows))
            for requests in held.values():
                for request in requests:
                    reject_now(request, requeue=True)
                    _ACKS.finished(request.message)
            return
        _ACKS.acknowledge([request for requests in held.values() for request in requests])


class AckTracker:
    """Acknowledge a committed batch with one `multiple` ack where that is provably safe.

    A RabbitMQ ack with `multiple` covers every unacknowledged delivery tag up to
    it on the channel, so it is sent only up to the highest tag below which every
    tag is known to be finished: acknowledged or rejected by one of our requests
    (always synchronously, so no single ack frame can follow a `multiple` one that
    covers it), or in this batch. Anything else (a gap such as a message held
    for its ETA) is acknowledged one by one. Redis has no `multiple` ack: there
    a batch's acks go in one pipeline.
    """

    def __init__(self) -> None:
        self._floor: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._finished: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()

    def finished(self, message: Message) -> None:
        """A message was acknowledged or rejected on its own."""
        channel, tag = message.channel, message.delivery_tag
        if isinstance(tag, int) and channel is not None:
            self._finished.setdefault(channel, set()).add(tag)

    def size(self) -> int:
        """Delivery tags remembered above the floors: a few at most while batches flow, 0 once all are acked."""
        return sum(len(tags) for tags in list(self._finished.values()))

    def acknowledge(self, requests: list[Request]) -> None:
        by_channel: dict[Any, list[Request]] = {}
        for request in requests:
            by_channel.setdefault(request.message.channel, []).append(request)
        for channel, group in by_channel.items():
            self._acknowledge_on(channel, group)

    def _acknowledge_on(self, channel: Any, requests: list[Request]) -> None:
        if is_redis(channel):
            _ack_on_redis(channel, requests)
            return
        tags = {request.message.delivery_tag: request for request in requests}
        if channel is None or not all(isinstance(tag, int) for tag in tags):
            for request in requests:
                ack_now(request)
            return
        finished = self._finished.setdefault(channel, set())
        finished.update(tags)
        floor = self._floor.get(channel, 0)
        while floor + 1 in finished:
            floor += 1
            finished.discard(floor)
        self._floor[channel] = floor
        covered = [tag for tag in tags if tag <= floor]
        if covered:
            ack_now(tags[max(covered)], multiple=True)
            for tag in covered:
                tags[tag].acknowledged = True
        for tag, request in tags.items():
            if tag > floor:
                ack_now(request)


def _ack_on_redis(channel: Any, requests: list[Request]) -> None:
    try:
        ack_many(channel, [request.message for request in requests])
    except requests[0].connection_errors as exc:
        # As `Message.ack_log_error`: the messages are delivered again after the visibility timeout.
        logger.critical("Couldn't ack %d messages, reason:%r", len(requests), exc, exc_info=True)
        if isinstance(exc, BrokenPipeError):
            raise
    for request in requests:
        request.acknowledged = True


_ACKS = AckTracker()


class BatchedRequest(Request):
    """A worker request whose acknowledgement waits for its batched result to be committed.

    Where batching is active its acks and rejects are written at once (not via
    the event loop's unordered ready set), so `AckTracker` knows their order.
    A task whose outcome could not be stored at all (PostgreSQL unreachable
    through all the backend's retries) has its message requeued, not
    acknowledged: it runs again later instead of staying PENDING for good.
    """

    def on_failure(self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False) -> None:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        relay = getattr(self.task.backend, 'result_relay', None)
        settled = relay.hold_ack(self) if isinstance(exc, WorkerLostError) and relay is not None else None
        if settled in (Settled.HELD, Settled.REQUEUED):
            # The child was lost after handing its result over (in a hook that runs after the store): its message is
            # settled by that result's commit, not retried as a lost task; held, the task succeeded, as Celery
            # counts one whose child stored its result itself before the loss.
            task_ready(self)
            if settled is Settled.HELD:
                logger.warning(
                    'task %s[%s] succeeded before its pool process was lost: %r', self.task_name, self.id, exc
                )
                self.send_event('task-succeeded', result=None, runtime=None)
            return
        if not isinstance(exc, BackendStoreError):
            super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
            return
        logger.error(
            'task %s[%s]: its state could not be stored (%s); its message goes back to the queue',
            self.task_name,
            self.id,
            exc,
        )
        task_ready(self)
        self.reject(requeue=True)

    def on_accepted(self, pid: int, time_accepted: float) -> None:
        """A pool process took the task: in a prefork worker, this process writes its STARTED state."""
        super().on_accepted(pid, time_accepted)
        writer = getattr(self.task.backend, 'started_writer', None)
        if writer is not None and self.task_name in writer.task_names:
            writer.add(self, pid)

    def acknowledge(self) -> None:
        if self.acknowledged:
            return
        batch = getattr(self.task.backend, 'result_batch', None)
        relay = getattr(self.task.backend, 'result_relay', None)
        if batch is not None and batch.active:
            if not batch.hold_ack(self):
                ack_now(self)
                _ACKS.finished(self.message)
        elif relay is None or relay.hold_ack(self) is Settled.NOT_RELAYED:
            super().acknowledge()

    def reject(self, requeue: bool = False) -> None:
        if self.acknowledged:
            return
        batch = getattr(self.task.backend, 'result_batch', None)
        if batch is None or not batch.active:
            super().reject(requeue=requeue)
        else:
            reject_now(self, requeue)
            _ACKS.finished(self.message)


def settled_by_consumer(app: Any, message: Message) -> None:
    """The consumer acknowledged or rejected `message` itself (refused: unknown task, undecodable body).

    Where batching is active its delivery tag counts as finished, or the
    `multiple` ack floor would stop below it for good: every later ack would go
    one by one and the tags above it would pile up in memory.
    """
    batch = getattr(app.backend, 'result_batch', None)
    if batch is not None and batch.active:
        _ACKS.finished(message)


def held_tags() -> int:
    """Delivery tags this process remembers for its `multiple` acks (bounded; 0 when idle)."""
    return _ACKS.size()


def enable_in_solo_worker(sender: Any, **kwargs: Any) -> None:
    """`worker_init` receiver, connected by the app: the backend (and this module) may not be loaded before it."""
    batch = getattr(sender.app.backend, 'result_batch', None)
    if batch is not None and get_implementation(sender.pool_cls) is SoloPool:
        batch.enable()
