"""Queues, routes and priorities from the settings, the same on RabbitMQ and Redis.

A task picks its queue with `@task(..., queue='critical')` or through the
`TASK_ROUTES` table; everything else goes to `default`. Queues are durable and
messages persistent, so a broker restart keeps them.

Priority is 0-9 and higher runs first on both brokers. RabbitMQ does this
itself (`x-max-priority`); Redis keeps one list per priority step and reads
them lowest number first, so `invert_priority_for_redis` turns the number
around when a message is published. The caller's number travels in the
`fba_priority` header so a retry keeps it instead of turning it around twice.

With `TASK_QUEUE_TYPE=quorum` (a RabbitMQ cluster) the queues are quorum
queues: replicated, with a delivery limit, on topic exchanges so that Celery's
native delayed delivery can route countdown/ETA messages back to them. Quorum
queues have no priorities, so `max_priority` is not used there: urgent work
goes to its own queue (`critical`) served by its own worker pool.
"""

import math
from typing import Any

from celery.utils.quorum_queues import detect_quorum_queues
from kombu import Exchange, Queue
from kombu.transport.native_delayed_delivery import calculate_routing_key

from backend.core.conf import QueueSpec, Settings

MAX_PRIORITY = 9
PRIORITY_HEADER = 'fba_priority'
#: The first of the broker's delay levels (2**27 s), where Celery's native delayed delivery publishes.
NATIVE_DELAY_EXCHANGE = 'celery_delayed_27'


def queue_arguments(settings: Settings, spec: QueueSpec) -> dict[str, Any] | None:
    if settings.TASK_QUEUE_TYPE == 'quorum':
        return {'x-queue-type': 'quorum', 'x-delivery-limit': settings.TASK_QUEUE_DELIVERY_LIMIT}
    return {'x-max-priority': spec.max_priority} if spec.max_priority else None


def task_queues(settings: Settings) -> list[Queue]:
    # Native delayed delivery re-publishes through the queue's exchange with a prefixed routing key: topic only.
    exchange_type = 'topic' if settings.TASK_QUEUE_TYPE == 'quorum' else 'direct'
    queues = []
    for spec in settings.TASK_QUEUES:
        arguments = queue_arguments(settings, spec)
        queues.append(
            Queue(
                spec.name,
                Exchange(spec.name, type=exchange_type, durable=True, delivery_mode='persistent'),
                routing_key=spec.routing_key or spec.name,
                durable=True,
                queue_arguments=arguments,
            )
        )
    return queues


def queue_config(settings: Settings) -> dict[str, Any]:
    config = {
        'task_queues': task_queues(settings),
        'task_routes': dict(settings.TASK_ROUTES),
        'task_default_queue': 'default',
        'task_default_delivery_mode': 'persistent',
        # Queues created on demand (a worker's -Q, a task's queue=) get priorities too.
        'task_create_missing_queues': True,
        'task_queue_max_priority': MAX_PRIORITY,
        'task_default_priority': 0,
        'task_inherit_parent_priority': True,
    }
    if settings.TASK_QUEUE_TYPE == 'quorum':
        del config['task_queue_max_priority']  # quorum queues refuse x-max-priority
        config.update(quorum_queue_config())
    return config


def quorum_queue_config() -> dict[str, Any]:
    """Celery's own quorum support: queues made on demand are quorum ones, countdown/ETA by native delayed delivery."""
    return {
        'task_create_missing_queue_type': 'quorum',
        'task_create_missing_queue_exchange_type': 'topic',
        'task_default_queue_type': 'quorum',
        'task_default_exchange_type': 'topic',
        'broker_native_delayed_delivery_queue_type': 'quorum',
        'worker_detect_quorum_queues': True,
    }


def native_delay_route(app: Any, exchange: str, routing_key: str, countdown: float) -> tuple[str, str]:
    """Exchange and routing key of a delayed message, as Celery's `send_task` picks them on quorum queues.

    The message waits in the broker's `celery_delayed_*` queues and reaches `exchange` when due, instead of
    sitting in a worker's memory (which quorum queues cannot make room for: their prefetch is fixed).
    """
    if countdown <= 0 or not detect_quorum_queues(app, 'amqp')[0]:
        return exchange, routing_key
    # Whole seconds, rounded up: the message reaches the worker at its ETA, never before.
    return NATIVE_DELAY_EXCHANGE, calculate_routing_key(math.ceil(countdown), routing_key)


def redis_priority_options() -> dict[str, Any]:
    return {'priority_steps': list(range(MAX_PRIORITY + 1)), 'sep': ':', 'queue_order_strategy': 'priority'}


def invert_priority_for_redis(headers: dict[str, Any], properties: dict[str, Any], **_: Any) -> None:
    """`before_task_publish` receiver on Redis: 9 (most urgent) is stored as 0, which Redis reads first."""
    wanted = headers.get(PRIORITY_HEADER)
    if wanted is None:
        wanted = min(max(int(properties.get('priority') or 0), 0), MAX_PRIORITY)
        headers[PRIORITY_HEADER] = wanted
    properties['priority'] = MAX_PRIORITY - int(wanted)
