"""kombu and py-amqp (kombu's RabbitMQ transport) internals the framework uses (checked by
tests/unit/test_internals.py)."""

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import amqp
from kombu.message import Message
from kombu.transport import redis
from kombu.utils.scheduling import priority_cycle, round_robin_cycle

#: The state kombu gives an acknowledged message (`Message.ACK_STATES`).
ACKNOWLEDGED = 'ACK'


class RedisBrpopChannel(redis.Channel):
    """`redis.Channel._brpop_read`: kombu's Redis channel, calling `after_brpop_delivery` once BRPOP's message is
    handed over.

    `_brpop_read` is where kombu reads BRPOP's reply and delivers its one
    message (from the event loop or `drain_events`); fetching more messages
    right after it, while no BRPOP is pending, needs a hook there.
    """

    def _brpop_read(self, **options: Any) -> Any:
        started = time.monotonic()
        delivered = super()._brpop_read(**options)
        self.after_brpop_delivery(started)
        return delivered

    def after_brpop_delivery(self, started: float) -> None:
        """Called after BRPOP's message was delivered; `started` is when its reply was read (`time.monotonic`)."""


def redis_brpop_queues(channel: redis.Channel) -> list[str]:
    """`redis.Channel._queue_cycle`: the queues in the order the channel's next BRPOP lists them."""
    return list(channel._queue_cycle.consume(len(channel.active_queues)))


def redis_rotates_queues(channel: redis.Channel) -> bool:
    """Whether the channel's queue cycle moves a queue just read to the end (`round_robin`; not `priority` or
    `sorted`), as `_brpop_read` asks it to after each message."""
    cycle = channel._queue_cycle
    return isinstance(cycle, round_robin_cycle) and not isinstance(cycle, priority_cycle)


def redis_rotate_queue(channel: redis.Channel, queue: str) -> None:
    """`redis.Channel._queue_cycle.rotate`: what `_brpop_read` does with the queue of each message it delivers."""
    channel._queue_cycle.rotate(queue)


def redis_queue_key(channel: redis.Channel, queue: str, priority: int) -> str:
    """`redis.Channel._q_for_pri`: the Redis list holding `queue`'s messages of `priority`."""
    return str(channel._q_for_pri(queue, priority))


def deliver(channel: Any, payload: dict[str, Any], queue: str) -> None:
    """`virtual.Transport._deliver`: hand a message taken from `queue` to its consumer, as `_brpop_read` does."""
    channel.connection._deliver(payload, queue)


@contextlib.contextmanager
def redis_bindings_read_once(channel: redis.Channel) -> Iterator[None]:
    """`virtual.Channel._lookup` calls `get_table` per publish: on Redis an SMEMBERS round trip (and a new client)
    per message. Within the block each exchange's bindings are read once.

    For a batch of messages to one exchange; a binding made or removed during
    the block is seen by the next batch.
    """
    tables: dict[str, Any] = {}
    read = channel.get_table

    def get_table(exchange: str) -> Any:
        if exchange not in tables:
            tables[exchange] = read(exchange)
        return tables[exchange]

    own = vars(channel).get('get_table')
    channel.get_table = get_table  # type: ignore[method-assign]
    try:
        yield
    finally:
        if own is None:
            del channel.get_table
        else:
            channel.get_table = own  # type: ignore[method-assign]


def mark_acknowledged(message: Message) -> None:
    """`Message._state`: record that the message was acknowledged by a batch, as `Message.ack` would.

    After a batched Redis ack the message must read `acknowledged` (so it is not
    acknowledged or rejected again); kombu sets that state only in `ack()`.
    """
    message._state = ACKNOWLEDGED


def amqp_properties(message: amqp.Message) -> bytes:
    """`amqp.Message._serialize_properties`: the encoded property and header frame of a message.

    Encoding the properties that stay the same across a batch once, with py-amqp's
    own encoder, is what makes `send_batch` fast; py-amqp has no public encoder.
    """
    return message._serialize_properties()


class PreparedAmqpMessage(amqp.Message):
    """A message whose properties are already encoded: py-amqp's frame writer calls `_serialize_properties`,
    which returns them as they are."""

    def __init__(self, body: bytes, encoded_properties: bytes) -> None:
        super().__init__(body)
        self._encoded_properties = encoded_properties

    def _serialize_properties(self) -> bytes:
        return self._encoded_properties
