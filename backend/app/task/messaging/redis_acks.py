"""Acknowledge a batch of Redis messages with one round trip.

kombu's Redis QoS acknowledges a message by removing it from the unacked
index and hash, one pipeline (and one new client object) per message. The
batch does the same removals in one pipeline, then kombu's in-process
bookkeeping per message, exactly as `QoS.ack` would.
"""

from kombu.message import Message
from kombu.transport import virtual
from kombu.transport.redis import Channel

from backend.app.task.internals import kombu_private


def is_redis(channel: object) -> bool:
    return isinstance(channel, Channel)


def ack_many(channel: Channel, messages: list[Message]) -> None:
    """Acknowledge every message in `messages` (all received on `channel`); raises if Redis fails."""
    qos = channel.qos
    with qos.pipe_or_acquire() as pipe:
        for message in messages:
            kombu_private.redis_remove_from_indices(qos, message.delivery_tag, pipe)
        pipe.execute()
    for message in messages:
        virtual.QoS.ack(qos, message.delivery_tag)
        kombu_private.mark_acknowledged(message)
