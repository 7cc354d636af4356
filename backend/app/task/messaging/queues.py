"""Queues, routes and priorities from the settings, the same on RabbitMQ and Redis.

A task picks its queue with `@task(..., queue='critical')` or through the
`TASK_ROUTES` table; everything else goes to `default`. Queues are durable and
messages persistent, so a broker restart keeps them.

Priority is 0-9 and higher runs first on both brokers. RabbitMQ does this
itself (`x-max-priority`); Redis keeps one list per priority step and reads
them lowest number first, so `invert_priority_for_redis` turns the number
around when a message is published. The caller's number travels in the
`fba_priority` header so a retry keeps it instead of turning it around twice,
and `restore_priority_on_redis` puts it back into the running task's
`delivery_info`, where Celery reads the priority a child task inherits
(`task_inherit_parent_priority`) and where task code reads its own.


With `TASK_QUEUE_TYPE=quorum` (a RabbitMQ cluster) the queues are quorum
queues: replicated, with a delivery limit, on topic exchanges so that Celery's
native delayed delivery can route countdown/ETA messages back to them. Quorum
queues have no priorities, so `max_priority` is not used there: urgent work
goes to its own queue (`critical`) served by its own worker pool.
"""

import math
from typing import Any

from celery import Celery, current_task
from celery.utils.quorum_queues import detect_quorum_queues
from kombu import Exchange, Queue
from kombu.transport.native_delayed_delivery import calculate_routing_key

from backend.app.task.errors import UndeclaredQueue
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


def check_queue(app: Celery, queue: str | None) -> None:
    """Refuse a queue the app does not declare: RabbitMQ or Redis would create it, and no worker reads it."""
    declared = [q.name for q in app.conf.task_queues or ()]
    if queue is not None and queue not in declared:
        raise UndeclaredQueue(
            f'queue: {queue!r} is not declared in TASK_QUEUES ({", ".join(declared)}), so no worker would read it.'
        )


def queue_config(settings: Settings) -> dict[str, Any]:
    config = {
        'task_queues': task_queues(settings),
        'task_routes': dict(settings.TASK_ROUTES),
        'task_default_queue': 'default',
        'task_default_delivery_mode': 'persistent',
        # Queues created on demand (a worker's -Q, a task's queue=) get priorities too.
        'task_create_missing_queues': True,
        'task_queue_max_priority': MAX_PRIORITY,
        # None, not 0: a call given no priority inherits its parent task's (`inherit_parent_priority`); a message
        # without one is read as 0 by either broker.
        'task_default_priority': None,
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


def inherit_parent_priority(properties: dict[str, Any], **_: Any) -> None:
    """`before_task_publish` receiver: a call sent from a running task without a priority gets the task's.

    Celery applies `task_inherit_parent_priority` only to `send_task` without a
    priority; `Task.apply_async` and `delay` always pass one (None), so their
    children would lose it. Connected before the Redis inversion, which then
    sees the caller's number.
    """
    parent = current_task  # a proxy: false outside a running task
    if properties.get('priority') is not None or not parent or not parent.app.conf.task_inherit_parent_priority:
        return
    inherited = (parent.request.delivery_info or {}).get('priority')
    if inherited is not None:
        properties['priority'] = inherited


def invert_priority_for_redis(headers: dict[str, Any], properties: dict[str, Any], **_: Any) -> None:
    """`before_task_publish` receiver on Redis: 9 (most urgent) is stored as 0, which Redis reads first."""
    wanted = headers.get(PRIORITY_HEADER)
    if wanted is None:
        wanted = min(max(int(properties.get('priority') or 0), 0), MAX_PRIORITY)
        headers[PRIORITY_HEADER] = wanted
    properties['priority'] = MAX_PRIORITY - int(wanted)


def restore_priority_on_redis(task: Any = None, **_: Any) -> None:
    """`task_prerun` receiver on Redis: `delivery_info['priority']` becomes the caller's number again (from the header,
    or turned back from the stored one for a message published without it), so a child inherits the same urgency."""
    request = task.request if task is not None else None
    info = getattr(request, 'delivery_info', None)
    if not info:
        return
    wanted = getattr(request, PRIORITY_HEADER, None)
    if wanted is None and info.get('priority') is not None:
        wanted = MAX_PRIORITY - min(max(int(info['priority']), 0), MAX_PRIORITY)
    if wanted is not None:
        info['priority'] = int(wanted)
