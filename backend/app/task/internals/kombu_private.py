"""kombu and py-amqp (kombu's RabbitMQ transport) internals the framework uses (checked by
tests/unit/test_internals.py)."""

from typing import Any

import amqp
from kombu.message import Message

#: The state kombu gives an acknowledged message (`Message.ACK_STATES`).
ACKNOWLEDGED = 'ACK'


def redis_remove_from_indices(qos: Any, delivery_tag: str, pipe: Any) -> None:
    """`kombu.transport.redis.QoS._remove_from_indices`: queue the removal of an unacked message onto `pipe`.

    kombu's public `QoS.ack` removes one message per pipeline and per new
    client; acknowledging a batch of results in one Redis round trip needs the
    removal step alone.
    """
    qos._remove_from_indices(delivery_tag, pipe)


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
