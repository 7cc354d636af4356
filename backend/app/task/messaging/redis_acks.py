"""Acknowledge a batch of Redis messages with one round trip.

kombu's Redis QoS acknowledges a message by removing it from the unacked
index and hash, one pipeline (and one new client object) per message. The
batch does the same removals with one ZREM and one HDEL naming every message,
then kombu's in-process bookkeeping per message, exactly as `QoS.ack` would.
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
    tags = [message.delivery_tag for message in messages]
    if tags:
        with qos.pipe_or_acquire() as pipe:
            # What kombu's QoS.ack removes per message (index entry, hash field), for all of them in two commands.
            pipe.zrem(qos.unacked_index_key, *tags).hdel(qos.unacked_key, *tags).execute()
    for message in messages:
        virtual.QoS.ack(qos, message.delivery_tag)
        kombu_private.mark_acknowledged(message)
