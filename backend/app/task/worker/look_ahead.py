"""One message per pool child waits in the worker, but never for long behind a long task.

With acknowledgement after the task and a prefetch multiplier of 1, a prefork
worker's QoS equals its pool size: a child's next message leaves the broker
only once the child's last one is acknowledged, so every task waits a broker
round trip. Where the QoS can change while consuming (RabbitMQ classic queues,
Celery's global QoS) this consumer step widens it by `AHEAD_PER_CHILD` messages
per child: one waiting for the child, and room for the finished tasks whose
acknowledgement waits for their result's commit (`results/relay.py`), so a free
child usually finds its next message in the worker already.

A message that waits `WAIT_LIMIT` seconds for a free child (all of them busy
with longer tasks) goes back to the queue with every other waiting one, and the
QoS narrows to the pool size until a child is free and no running task is long:
a busy worker holds nothing another worker could run. A message given back
arrives again marked `redelivered`; if it was a first delivery, a delivery
credit keeps the redelivery limit from counting it (`deliveries.credit_released`).
While PostgreSQL cannot take the credit, the waiting messages stay and run here.
"""

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import bootsteps
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.utils.quorum_queues import detect_quorum_queues
from celery.worker.request import Request
from celery.worker.state import active_requests, task_ready

from backend.app.task.reliability.deliveries import credit_released

logger = logging.getLogger(__name__)

#: Messages per pool child the QoS is widened by: one waiting for the child, two acknowledgements waiting for a
#: commit (fewer made the children wait for messages in the benchmark; more gained nothing).
AHEAD_PER_CHILD = 3
#: Seconds a message may wait in the worker for a free child before it goes back to the queue.
WAIT_LIMIT = 0.1
#: How often the waiting messages are looked at.
CHECK_EVERY = WAIT_LIMIT / 4
#: Longest the event loop waits for PostgreSQL to take a delivery credit; without one the messages stay and run here.
CREDIT_TIMEOUT = 2.0


class LookAhead:
    """The messages waiting for a child in this worker, and how far the QoS is widened."""

    def __init__(self, qos: Any, pool: Any) -> None:
        self.qos = qos
        self.pool = pool
        self.extra = 0
        self.waiting: dict[int, tuple[LookAheadRequest, float]] = {}
        # The credit's round trip runs here, so a stalled PostgreSQL holds the event loop CREDIT_TIMEOUT at most.
        self._crediting = ThreadPoolExecutor(max_workers=1, thread_name_prefix='fba-look-ahead')

    @property
    def children(self) -> int:
        """The pool's size now: `--autoscale` and the `pool_grow`/`pool_shrink` commands change it."""
        return int(self.pool.num_processes)

    def widen(self) -> None:
        before = self.qos.value
        self.qos.increment_eventually(self.children * AHEAD_PER_CHILD)
        self.extra = self.qos.value - before

    def narrow(self) -> None:
        extra, self.extra = self.extra, 0
        self.qos.decrement_eventually(extra)
        self.qos.update()

    def received(self, request: 'LookAheadRequest') -> None:
        self.waiting[id(request)] = (request, time.monotonic())

    def check(self) -> None:
        now = time.monotonic()
        if self.extra and any(now - since >= WAIT_LIMIT for _, since in self.waiting.values()):
            # Narrowed first, so the broker does not hand the messages straight back; deliveries already on their
            # way arrive during the QoS call and go back with the rest.
            self.narrow()
            self.give_back(self.take_waiting(only_if_credited=True))
        elif not self.extra and not self.waiting and self._child_free_and_nothing_long():
            self.widen()

    def _child_free_and_nothing_long(self) -> bool:
        running = list(active_requests)
        if len(running) >= self.children:
            return False
        now = time.time()  # `time_start` is wall-clock time
        return all(now - (request.time_start or now) < WAIT_LIMIT for request in running)

    def take_waiting(self, *, only_if_credited: bool) -> list['LookAheadRequest']:
        """Credit the waiting first deliveries and stop tracking the waiting messages, so they do not run here.

        With `only_if_credited`, none is taken when PostgreSQL did not take the credit (they run here instead).
        """
        waiting = [request for request, _ in self.waiting.values()]
        first = [request.id for request in waiting if not request.delivery_info.get('redelivered')]
        if not self._credit(first) and only_if_credited:
            return []
        self.waiting.clear()
        for request in waiting:
            request.given_back = True
            task_ready(request)
        return waiting

    def _credit(self, task_ids: list[str]) -> bool:
        if not task_ids:
            return True
        try:
            return self._crediting.submit(credit_released, task_ids).result(timeout=CREDIT_TIMEOUT)
        except TimeoutError:
            logger.warning(
                'PostgreSQL took no delivery credit within %s s: %d messages stay', CREDIT_TIMEOUT, len(task_ids)
            )
            return False

    @staticmethod
    def give_back(requests: list['LookAheadRequest']) -> None:
        for request in requests:
            request.reject(requeue=True)
        if requests:
            logger.debug('gave %d waiting messages back to the queue: every pool child is busy', len(requests))

    def close(self) -> None:
        self._crediting.shutdown(wait=False)


def may_widen(app: Any) -> bool:
    """Whether a prefork worker of `app` looks ahead: RabbitMQ classic queues (their QoS can change while consuming)
    and a prefetch multiplier of 1. Known before the pool forks its children, unlike the consumer's `qos_global`."""
    with app.connection_for_write() as connection:
        driver = connection.transport.driver_type
    if driver != 'amqp' or app.conf.worker_prefetch_multiplier != 1:
        return False
    return not detect_quorum_queues(app, driver)[0]


def open_result_relay(sender: Any, **kwargs: Any) -> None:
    """`worker_init` receiver, connected by the app: a prefork worker with an event loop (which reads the rows) that
    looks ahead opens its result relay (`results/relay.py`) before it forks its children, as the widened QoS leaves
    room for acknowledgements waiting for a commit. With a fixed QoS (Redis, quorum queues) they would keep the
    children's next messages away, so there the children store their results themselves."""
    relay = getattr(sender.app.backend, 'result_relay', None)
    prefork = get_implementation(sender.pool_cls) is PreforkPool
    if relay is not None and prefork and sender.use_eventloop and may_widen(sender.app):
        relay.open()


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
        _current = LookAhead(c.qos, c.pool)
        _current.widen()
        self._timer = c.timer.call_repeatedly(CHECK_EVERY, _current.check)

    def stop(self, c: Any) -> None:
        """The waiting messages go back now on a warm shutdown; after a lost connection the broker requeues them,
        marked `redelivered`, so their first deliveries are credited all the same."""
        global _current
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        look_ahead, _current = _current, None
        if look_ahead is None:
            return
        try:
            if c.connection is None:
                look_ahead.take_waiting(only_if_credited=False)
                return
            with contextlib.suppress(*c.connection_errors):
                if look_ahead.extra:
                    look_ahead.narrow()
            look_ahead.give_back(look_ahead.take_waiting(only_if_credited=False))
        finally:
            look_ahead.close()

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
