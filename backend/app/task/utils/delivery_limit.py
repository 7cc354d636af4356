"""The quorum-queue delivery limit, turned into a dead letter instead of a silent drop.

A quorum queue counts the deliveries of a message that were never acknowledged
(a worker killed or cut off mid-task) and drops it once the count passes
`x-delivery-limit`. The count reaches the worker in the `x-delivery-count`
header; on the last delivery the broker will make, the task is failed instead
of run, so it lands in the dead-letter store (reason `worker_lost`) where it
can be read and requeued, rather than vanishing from the broker.
"""

from typing import Any

from backend.core.conf import get_settings

DELIVERY_COUNT_HEADER = 'x-delivery-count'


class DeliveryLimitReached(Exception):
    """The broker will not deliver this message again: it was handed out too many times without an ack."""


def check(request: Any) -> None:
    """Raise `DeliveryLimitReached` on the last delivery a quorum queue allows."""
    count = request.get(DELIVERY_COUNT_HEADER)
    limit = get_settings().TASK_QUEUE_DELIVERY_LIMIT
    if count is not None and int(count) >= limit:
        raise DeliveryLimitReached(
            f'delivered {int(count) + 1} times without an acknowledgement (TASK_QUEUE_DELIVERY_LIMIT={limit}); '
            'not run again'
        )
