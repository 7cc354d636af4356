"""The one place that publishes task messages, so a broker failure always becomes `BrokerUnavailable`."""

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from struct import pack
from typing import Any

import amqp
from amqp.exceptions import ChannelError, MessageNacked
from amqp.serialization import dumps as amqp_dumps
from celery import Celery
from celery.signals import before_task_publish
from celery.utils.time import maybe_make_aware
from kombu.common import maybe_declare
from kombu.entity import maybe_delivery_mode
from kombu.exceptions import OperationalError
from kombu.utils.json import dumps
from kombu.utils.uuid import uuid

from backend.app.task.errors import PoisonValue
from backend.app.task.internals import kombu_private
from backend.app.task.messaging.call_headers import task_parameter_names
from backend.app.task.messaging.errors import SEND_UNCERTAIN, BrokerRefused, BrokerUnavailable
from backend.app.task.messaging.queues import native_delay_route
from backend.app.task.messaging.redis_acks import is_redis
from backend.app.task.utils.json_safety import check_storable
from backend.app.task.utils.redact import call_reprs

logger = logging.getLogger(__name__)

#: Messages published between two waits for RabbitMQ's confirms (and per Redis pipeline).
CONFIRM_WINDOW = 5000
#: Longest wait for the broker's confirms, and for any socket call of a publishing connection.
CONFIRM_TIMEOUT = 30.0
#: The headers that differ between the calls of one batch (all strings).
VARYING_HEADERS = ('id', 'root_id', 'argsrepr', 'kwargsrepr')
#: The canvas part of a task message body: no callbacks, errbacks, chain or chord.
EMBED = {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}


def publish(app: Celery, name: str, args: list[Any], kwargs: dict[str, Any], **options: Any) -> str:
    """Send one call after the broker confirmed it (bounded retry from `task_publish_retry_policy`)."""
    try:
        return app.send_task(name, args=args, kwargs=kwargs, **options).id
    except (OperationalError, ConnectionError, TimeoutError) as error:
        raise BrokerUnavailable(
            f'The broker did not accept task {name}: {type(error).__name__}. Nothing was sent.'
        ) from error
    except ChannelError as error:
        raise BrokerRefused(f'The broker refused task {name}: {error.reply_text}. Nothing was sent.') from error


def publishing_options(app: Celery) -> dict[str, Any]:
    """Transport options of a connection that publishes: confirms are counted by `Confirms`, and a broker that
    stops answering without closing the connection fails a socket call after CONFIRM_TIMEOUT instead of holding it
    (unless the broker's transport options set another timeout)."""
    keys = ('read_timeout', 'write_timeout') if connection_is_amqp(app) else ('socket_timeout',)
    return {**dict.fromkeys(keys, CONFIRM_TIMEOUT), **app.conf.broker_transport_options, 'confirm_publish': False}


def publish_many(
    app: Celery,
    name: str,
    calls: Sequence[tuple[list[Any], dict[str, Any]]],
    task_ids: Sequence[str] | None = None,
    **options: Any,
) -> list[str]:
    """Send many calls of one task over one connection and producer; ids return once the broker has all of them.

    The message headers are built once and copied per call (on RabbitMQ even
    encoded once). On RabbitMQ the publisher confirms are collected per
    `CONFIRM_WINDOW` messages, with one window in flight, instead of one wait
    per message; on Redis the pushes are pipelined. If the broker fails
    part-way, the error says how many calls it confirmed (the first ones, in
    order). `before_task_publish` is sent once for the batch, not per call.
    A call carrying a value the broker or PostgreSQL cannot carry raises
    `PoisonValue` before any is sent.
    """
    if not calls:
        return []
    for index, (args, kwargs) in enumerate(calls):
        check_storable(args, f'call {index}: args')
        check_storable(kwargs, f'call {index}: kwargs')
    prepared = prepare(app, name, options)
    ids = list(task_ids) if task_ids is not None else [uuid() for _ in calls]
    sent = 0
    connection = app.connection_for_write(transport_options=publishing_options(app))
    try:
        with ExitStack() as stack:
            producer = connection.Producer()
            send = prepared.sender(connection, producer)
            confirms = Confirms(connection, producer.channel) if connection.transport.driver_type == 'amqp' else None
            if is_redis(producer.channel):
                stack.enter_context(kombu_private.redis_bindings_read_once(producer.channel))
            for start in range(0, len(calls), CONFIRM_WINDOW):
                window = range(start, min(start + CONFIRM_WINDOW, len(calls)))
                with producer.batch(max_size=CONFIRM_WINDOW):
                    for i in window:
                        send(*calls[i], ids[i])
                if confirms is None:
                    sent = window.stop
                else:
                    # One window stays in flight: the broker confirms the last one while this one is sent.
                    confirms.wait_for(window.start)
                    sent = window.start
            if confirms is not None:
                confirms.wait_for(len(calls))
                sent = len(calls)
    except BaseException as error:
        connection.collect()  # no close handshake, which a broker that stopped answering would never finish
        confirmed = f'The first {sent} of {len(calls)} were sent'
        if isinstance(error, SEND_UNCERTAIN):
            raise BrokerUnavailable(
                f'The broker did not confirm all calls of task {name}: {type(error).__name__}. '
                f'{confirmed}; the others may or may not have been queued.'
            ) from error
        if isinstance(error, (OperationalError, MessageNacked, *connection.connection_errors)):
            raise BrokerUnavailable(
                f'The broker did not accept all calls of task {name}: {type(error).__name__}. {confirmed}.'
            ) from error
        raise
    connection.release()
    return ids


@dataclass
class Prepared:
    """One task with one set of send options, made ready once for any number of its calls."""

    app: Celery
    queue: Any
    exchange: str
    routing_key: str
    properties: dict[str, Any]
    headers: dict[str, Any]
    names: list[str] | None

    def sender(self, connection: Any, producer: Any) -> Callable[[list[Any], dict[str, Any], str], None]:
        """The send of one call (args, kwargs, task id) through `producer`, after declaring the queue on its channel."""
        maybe_declare(self.queue, producer.channel)
        send = _sender(self.app, connection, producer, self.queue, self.exchange, self.routing_key, self.properties)

        def send_call(args: list[Any], kwargs: dict[str, Any], task_id: str) -> None:
            args_repr, kwargs_repr = call_reprs(self.names, args, kwargs)
            varying = {'id': task_id, 'root_id': task_id, 'argsrepr': args_repr, 'kwargsrepr': kwargs_repr}
            send(dumps((args, kwargs, EMBED)), {**self.headers, **varying}, task_id)

        return send_call


def prepare(app: Celery, name: str, options: dict[str, Any]) -> Prepared:
    """Route, headers and properties shared by the calls of `name` with `options`; `before_task_publish` is sent here,
    once for all of them (its receivers, e.g. Redis priority inversion, see what the calls share)."""
    route = app.amqp.router.route(dict(options), name)
    queue, routing_key = route['queue'], route.get('routing_key') or route['queue'].routing_key
    template, properties, _, _ = app.amqp.as_task_v2(
        '', name, countdown=options.get('countdown'), eta=options.get('eta'), expires=options.get('expires')
    )
    exchange = queue.exchange.name
    if template.get('eta') and connection_is_amqp(app):
        delay = (maybe_make_aware(datetime.fromisoformat(template['eta'])) - app.now()).total_seconds()
        exchange, routing_key = native_delay_route(app, exchange, routing_key, delay)
    properties = {**properties, 'priority': options.get('priority')}
    before_task_publish.send(
        sender=name,
        body=None,
        exchange=exchange,
        routing_key=routing_key,
        declare=[queue],
        headers=template,
        properties=properties,
        retry_policy=None,
    )
    # Unset headers read as None by the worker anyway; leaving them out makes each message cheaper to encode.
    headers = {key: value for key, value in template.items() if value is not None}
    return Prepared(app, queue, exchange, routing_key, properties, headers, task_parameter_names(name, app))


def _sender(
    app: Celery,
    connection: Any,
    producer: Any,
    queue: Any,
    exchange: str,
    routing_key: str,
    properties: dict[str, Any],
) -> Callable[[str, dict[str, Any], str], None]:
    """One message's send: straight onto the AMQP channel for RabbitMQ, through the kombu producer otherwise."""
    priority = properties['priority']
    delivery_mode = maybe_delivery_mode(queue.exchange.delivery_mode or app.conf.task_default_delivery_mode)
    if connection.transport.driver_type == 'amqp':
        channel = producer.channel
        fixed = {
            'content_type': 'application/json',
            'content_encoding': 'utf-8',
            'delivery_mode': delivery_mode,
            'reply_to': properties.get('reply_to'),
            **({'priority': priority} if priority is not None else {}),
        }
        encoder: _AmqpProperties | None = None

        def send_amqp(body: str, headers: dict[str, Any], task_id: str) -> None:
            nonlocal encoder
            if encoder is None:
                encoder = _AmqpProperties(fixed, {k: v for k, v in headers.items() if k not in VARYING_HEADERS})
            message = kombu_private.PreparedAmqpMessage(body.encode(), encoder.encode(headers, task_id))
            channel.basic_publish(message, exchange=exchange, routing_key=routing_key)

        return send_amqp

    def send_kombu(body: str, headers: dict[str, Any], task_id: str) -> None:
        producer.publish(
            body,
            headers=headers,
            correlation_id=task_id,
            exchange=exchange,
            routing_key=routing_key,
            content_type='application/json',
            content_encoding='utf-8',
            delivery_mode=delivery_mode,
            priority=priority,
            reply_to=properties.get('reply_to'),
            retry=False,
        )

    return send_kombu


class _AmqpProperties:
    """AMQP message properties encoded once per batch; only the per-call headers and the id are encoded per message.

    py-amqp encodes every property and header of every message (most of the cost
    of a publish); here the fixed ones are encoded once with py-amqp's own
    encoder and the varying strings are appended as AMQP table items.
    """

    def __init__(self, fixed: dict[str, Any], fixed_headers: dict[str, Any]) -> None:
        placeholder = '#' * 36
        template = amqp.Message(b'', application_headers={}, correlation_id=placeholder, **fixed)
        encoded = kombu_private.amqp_properties(template)
        # flags (2 bytes), content_type and content_encoding (short strings), then the headers table.
        start = 2 + 1 + len(fixed['content_type']) + 1 + len(fixed['content_encoding'])
        if encoded[start : start + 4] != b'\x00\x00\x00\x00':
            raise RuntimeError('unexpected AMQP property layout')
        self._before = encoded[:start]
        self._after_head, self._after_tail = encoded[start + 4 :].split(b'\x24' + placeholder.encode())
        self._fixed_items = amqp_dumps('F', [fixed_headers])[4:]

    def encode(self, headers: dict[str, Any], task_id: str) -> bytes:
        items = [self._fixed_items]
        for key in VARYING_HEADERS:
            value = headers[key].encode()
            items.append(pack('>B', len(key)) + key.encode() + b'S' + pack('>I', len(value)) + value)
        table = b''.join(items)
        correlation = task_id.encode()
        return b''.join(
            (
                self._before,
                pack('>I', len(table)),
                table,
                self._after_head,
                pack('>B', len(correlation)),
                correlation,
                self._after_tail,
            )
        )


def connection_is_amqp(app: Celery) -> bool:
    return bool(app.conf.broker_url.startswith(('amqp', 'pyamqp')))


def publish_each(app: Celery, calls: Sequence[tuple[str, list[Any], dict[str, Any], dict[str, Any]]]) -> None:
    """Send (name, args, kwargs, options) calls, each with its own task id in `options`.

    Used by beat, whose due slots carry ids of their own: calls of the same task
    and options go out together through `publish_many`. On a broker failure
    nothing is known to be sent: the caller sends the batch again later (with
    the same task ids). A call that can never be sent (a value the broker or
    PostgreSQL cannot carry, e.g. edited into a schedule in SQL) is logged and
    left out, so it neither stops the others nor comes back on every resend.
    """
    groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[tuple[list[Any], dict[str, Any], str]]] = {}
    for name, args, kwargs, options in calls:
        try:
            check_storable(args, 'args')
            check_storable(kwargs, 'kwargs')
        except PoisonValue as error:
            logger.error('task %s (id %s) not sent: %s', name, options['task_id'], error.message)
            continue
        shared = tuple(sorted((key, value) for key, value in options.items() if key != 'task_id'))
        groups.setdefault((name, shared), []).append((args, kwargs, options['task_id']))
    try:
        for (name, shared), group in groups.items():
            calls_of_group = [(args, kwargs) for args, kwargs, _ in group]
            publish_many(app, name, calls_of_group, [task_id for _, _, task_id in group], **dict(shared))
    except BrokerUnavailable as error:
        raise BrokerUnavailable(
            f'The broker did not confirm {len(calls)} scheduled calls ({error.message}). They will be sent again.'
        ) from error


class Confirms:
    """RabbitMQ publisher confirms counted for a whole batch: the broker acks delivery tags 1, 2, … in order."""

    def __init__(self, connection: Any, channel: Any) -> None:
        self._connection = connection
        self._confirmed = 0
        self._early: set[int] = set()
        self._nacked = False
        channel.confirm_select()
        channel.events['basic_ack'].add(self._on_ack)
        channel.events['basic_nack'].add(self._on_nack)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._confirmed = max(self._confirmed, delivery_tag)
        else:
            self._early.add(delivery_tag)
        while self._confirmed + 1 in self._early:
            self._confirmed += 1
            self._early.discard(self._confirmed)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def wait_for(self, delivery_tag: int) -> None:
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while self._confirmed < delivery_tag:
            if self._nacked:
                raise MessageNacked('the broker refused a message')
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no publisher confirm within {CONFIRM_TIMEOUT} s')
            self._connection.drain_events(timeout=remaining)
        if self._nacked:
            raise MessageNacked('the broker refused a message')
