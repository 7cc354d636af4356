"""The process's sender of single calls: one broker connection shared by every concurrent request.

A request puts its call on a queue and awaits a future; one thread takes every
call waiting, publishes them together over one channel in confirm mode (on
Redis, one pipelined push), waits once for the broker's confirms of all of
them, and resolves each request's future with its task id. Calls arriving while
the thread waits form the next window, so confirm waits are shared and the
event loop never blocks. A broker failure fails every call of the window with
`BrokerUnavailable` (the API answers 503): an id is returned only once the
broker confirmed its message.
"""

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from amqp.exceptions import ChannelError, MessageNacked
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.uuid import uuid

from backend.app.task.messaging.dispatch import CONFIRM_WINDOW, Confirms, Prepared, prepare, publishing_options
from backend.app.task.messaging.errors import SEND_UNCERTAIN, BrokerRefused, BrokerUnavailable
from backend.app.task.utils.gather import gather
from backend.app.task.utils.json_safety import check_storable

logger = logging.getLogger(__name__)

BROKER_ERRORS = (OperationalError, ConnectionError, TimeoutError, OSError, MessageNacked)


@dataclass
class _Call:
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: tuple[tuple[str, Any], ...]
    task_id: str
    future: asyncio.Future[str]
    loop: asyncio.AbstractEventLoop = field(repr=False)

    def resolve(self, outcome: str | BaseException) -> None:
        def settle() -> None:
            if self.future.done():  # the request was cancelled (its client went away)
                return
            if isinstance(outcome, BaseException):
                self.future.set_exception(outcome)
            else:
                self.future.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # the request's event loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(settle)


class Publisher:
    """Sends single calls of `app`'s tasks over one shared, confirmed connection (see the module's docstring).

    Built once per process by its entry point (the API's lifespan, a CLI
    command) and passed to the services; `close()` stops its thread.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        probe = app.connection_for_write()  # not connected: only its transport's error classes are read
        self._broker_errors = (*BROKER_ERRORS, *probe.connection_errors, *probe.channel_errors)
        # Owned by the publishing thread only.
        self._connection: Any = None
        self._producer: Any = None
        self._confirms: Confirms | None = None
        self._published = 0

    def __enter__(self) -> 'Publisher':
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    async def send(self, name: str, args: list[Any], kwargs: dict[str, Any], **options: Any) -> str:
        """Publish one call; returns its task id once the broker confirmed it, else raises `BrokerUnavailable`.

        `options` are those of `publish_many` (countdown, eta, expires, queue,
        priority) plus an optional `task_id`. The caller checks the task and its
        arguments; a value the broker or PostgreSQL cannot carry raises
        `PoisonValue` here, before anything is queued.
        """
        check_storable(args, 'args')
        check_storable(kwargs, 'kwargs')
        loop = asyncio.get_running_loop()
        task_id = options.pop('task_id', None) or uuid()
        call = _Call(name, args, kwargs, tuple(sorted(options.items())), task_id, loop.create_future(), loop)
        with self._lock:  # never queued behind close()'s stop marker, where nobody would send it
            if self._closed:
                raise BrokerUnavailable(f'The API is shutting down: task {name} was not sent.')
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='fba-publisher', daemon=True)
                self._thread.start()
            self._calls.put(call)
        return await call.future

    def close(self) -> None:
        """Stop the thread after the calls already queued are sent, and close the connection."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._calls.put(None)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            window, stopping = gather(self._calls, CONFIRM_WINDOW)
            if window:
                self._send_window(window)
        self._disconnect()

    def _send_window(self, window: list[_Call]) -> None:
        """Send a window; a connection that went stale since the last one (broker restarted) is replaced once."""
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                self._publish(window)
            except Exception as error:  # whatever it is, it fails these requests, never the thread serving them all
                stale = reused and attempt == 1 and not isinstance(error, (*SEND_UNCERTAIN, MessageNacked))
                if isinstance(error, self._broker_errors) and not isinstance(error, ChannelError) and stale:
                    self._disconnect(broken=True)
                    continue
                for call in window:
                    call.resolve(_refusal(call, error, self._broker_errors))
                self._disconnect(broken=True)
                return
            for call in window:
                call.resolve(call.task_id)
            return

    def _publish(self, window: list[_Call]) -> None:
        connection, producer = self._connect()
        groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[_Call]] = {}
        for call in window:
            groups.setdefault((call.name, call.options), []).append(call)
        with producer.batch(max_size=CONFIRM_WINDOW):
            for (name, options), calls in groups.items():
                prepared: Prepared = prepare(self.app, name, dict(options))
                send = prepared.sender(connection, producer)
                for call in calls:
                    send(call.args, call.kwargs, call.task_id)
        self._published += len(window)
        if self._confirms is not None:
            self._confirms.wait_for(self._published)

    def _connect(self) -> tuple[Any, Any]:
        if self._connection is None:
            connection = self.app.connection_for_write(transport_options=publishing_options(self.app))
            try:
                policy = self.app.conf.task_publish_retry_policy or {}
                connection.ensure_connection(**{k: v for k, v in policy.items() if k != 'retry_errors'})
                producer = connection.Producer()
                amqp = connection.transport.driver_type == 'amqp'
                self._confirms = Confirms(connection, producer.channel) if amqp else None
            except BaseException:
                connection.release()
                raise
            self._connection, self._producer, self._published = connection, producer, 0
        return self._connection, self._producer

    def _disconnect(self, *, broken: bool = False) -> None:
        """Close the connection; a `broken` one without the close handshake a stalled broker would never finish."""
        if self._connection is not None:
            try:
                if broken:
                    self._connection.collect()
                else:
                    self._connection.release()
            except Exception:  # already broken: nothing left to close cleanly
                logger.debug('publisher: closing a broken connection failed', exc_info=True)
        self._connection = self._producer = self._confirms = None


def _refusal(call: _Call, error: Exception, broker_errors: tuple[type[BaseException], ...]) -> BaseException:
    """What the request's caller gets: BrokerRefused or BrokerUnavailable (the API's 503), naming no broker address."""
    if isinstance(error, ChannelError):
        return BrokerRefused(f'The broker refused task {call.name}: {error.reply_text}. Nothing was sent.')
    if isinstance(error, SEND_UNCERTAIN):
        return BrokerUnavailable(
            f'The broker did not confirm task {call.name}: {type(error).__name__}. It may or may not have been queued.'
        )
    if isinstance(error, broker_errors):
        return BrokerUnavailable(
            f'The broker did not accept task {call.name}: {type(error).__name__}. Nothing was sent.'
        )
    logger.error('publisher: sending task %s failed', call.name, exc_info=error)
    return error
