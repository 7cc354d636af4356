"""One message per pool child waits in the worker, but never for long behind a long task.

With acknowledgement after the task and a prefetch multiplier of 1, a prefork
worker's QoS equals its pool size: a child's next message leaves the broker
only once the child's last one is acknowledged, so every task waits a broker
round trip. Where the QoS can change while consuming (RabbitMQ classic queues,
Celery's global QoS) this consumer step widens it by the pool size, so a free
child usually finds its next message in the worker already.

A message that waits `WAIT_LIMIT` seconds for a free child (all of them busy
with longer tasks) goes back to the queue with every other waiting one, and the
QoS narrows to the pool size until a child is free and no running task is long:
a busy worker holds nothing another worker could run. A message given back
arrives again marked `redelivered`; if it was a first delivery, a delivery
credit keeps the redelivery limit from counting it (`deliveries.credit_released`).
"""

import logging
import time
from typing import Any

from celery import bootsteps
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.worker.request import Request
from celery.worker.state import active_requests, task_ready

from backend.app.task.reliability.deliveries import credit_released

logger = logging.getLogger(__name__)

#: Seconds a message may wait in the worker for a free child before it goes back to the queue.
WAIT_LIMIT = 0.1
#: How often the waiting messages are looked at.
CHECK_EVERY = WAIT_LIMIT / 4
#: After PostgreSQL refused a delivery credit, messages stay (and run here) for this long before the next try, so an
#: outage does not stall the event loop every `CHECK_EVERY`.
CREDIT_RETRY_SECONDS = 30.0


class LookAhead:
    """The messages waiting for a child in this worker, and how far the QoS is widened."""

    def __init__(self, qos: Any, children: int) -> None:
        self.qos = qos
        self.children = children
        self.extra = 0
        self.retry_at = 0.0
        self.waiting: dict[int, tuple[LookAheadRequest, float]] = {}

    def widen(self) -> None:
        before = self.qos.value
        self.qos.increment_eventually(self.children)
        self.extra = self.qos.value - before

    def narrow(self) -> None:
        self.qos.decrement_eventually(self.extra)
        self.qos.update()
        self.extra = 0

    def received(self, request: 'LookAheadRequest') -> None:
        self.waiting[id(request)] = (request, time.monotonic())

    def check(self) -> None:
        now = time.monotonic()
        if self.extra and now >= self.retry_at and any(now - since >= WAIT_LIMIT for _, since in self.waiting.values()):
            self.give_back(now)
        elif not self.extra and not self.waiting and self._child_free_and_nothing_long():
            self.widen()

    def _child_free_and_nothing_long(self) -> bool:
        running = list(active_requests)
        if len(running) >= self.children:
            return False
        now = time.time()  # `time_start` is wall-clock time
        return all(now - (request.time_start or now) < WAIT_LIMIT for request in running)

    def give_back(self, now: float) -> None:
        """Credit, narrow the QoS (so the broker does not hand the messages straight back), then requeue them."""
        waiting = self.forget()
        if waiting is None:
            self.retry_at = now + CREDIT_RETRY_SECONDS
            return
        self.narrow()
        for request in waiting:
            request.reject(requeue=True)
        logger.debug('gave %d waiting messages back to the queue: every pool child is busy', len(waiting))

    def forget(self) -> list['LookAheadRequest'] | None:
        """Credit the waiting first deliveries and stop tracking them, so they do not run here; None (and nothing
        changed) when PostgreSQL refused the credit."""
        waiting = [request for request, _ in self.waiting.values()]
        if not credit_released([request.id for request in waiting if not request.delivery_info.get('redelivered')]):
            return None
        self.waiting.clear()
        for request in waiting:
            request.given_back = True
            task_ready(request)
        return waiting


#: This worker process's look-ahead, while its consumer runs (one consumer per worker process).
_current: LookAhead | None = None


class LookAheadStep(bootsteps.StartStopStep):
    """Consumer step: widens the QoS of a prefork worker on RabbitMQ classic queues, and watches the waiting."""

    requires = ('celery.worker.consumer.tasks:Tasks',)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self._timer: Any = None

    def start(self, c: Any) -> None:
        global _current
        prefork = get_implementation(c.controller.pool_cls) is PreforkPool
        if not (prefork and c.hub is not None and c.qos_global and c.app.conf.worker_prefetch_multiplier == 1):
            return  # a fixed QoS (quorum queues, Redis) or a prefetch the user chose: left as it is
        _current = LookAhead(c.qos, c.controller.concurrency)
        _current.widen()
        self._timer = c.timer.call_repeatedly(CHECK_EVERY, _current.check)

    def stop(self, c: Any) -> None:
        """Waiting messages go back now on a warm shutdown; after a lost connection the broker requeues them, marked
        `redelivered`, so they are credited too."""
        global _current
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if _current is not None:
            if c.connection is not None and _current.extra:
                _current.give_back(time.monotonic())
            else:
                _current.forget()
        _current = None

    shutdown = stop


def on_task_received(sender: Any, request: Request, **kwargs: Any) -> None:
    """`task_received` receiver: a message now waits for a child (one with an ETA waits for its time instead)."""
    if isinstance(request, LookAheadRequest) and _current is not None and not (request.eta or request.task.rate_limit):
        _current.received(request)


class LookAheadRequest(Request):
    given_back = False

    def revoked(self) -> bool:
        # Celery asks this right before handing a request to a child; a revoked one gives its pool slot back.
        if self.given_back:
            return True
        if _current is not None:
            _current.waiting.pop(id(self), None)
        return bool(super().revoked())
