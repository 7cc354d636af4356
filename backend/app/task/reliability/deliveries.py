"""Ending endless redelivery: a message delivered again and again is dead-lettered after a bounded number.

A task that kills the process running it is handed back by the broker each time:
RabbitMQ when the worker's connection drops, Redis after the visibility timeout,
both marking the message `redelivered`. On the prefork pool the worker's parent
usually notices a dead child and retries the task (counted against its retry
policy), but with the solo or threads pool, or when the whole worker dies, no
one is left to count. So each redelivered message that starts is counted in
PostgreSQL (`task_delivery`, one row per task id, none for the common first
delivery); past its retry policy's `max_retries + 1` deliveries the task fails
with `DeliveredTooOften` before its body runs, which the dead-letter hook
records as `worker_lost`. A quorum queue counts deliveries itself
(`x-delivery-count`) and drops a message past `TASK_QUEUE_DELIVERY_LIMIT`: its
count is used instead, and the task fails on the last delivery the broker
makes, so it is dead-lettered rather than silently dropped.
"""

import logging

import psycopg
from celery import Task

from backend.app.task.crud import crud_result
from backend.app.task.utils.pg_connection import ThreadConnection
from backend.core.conf import get_settings

#: The header in which a quorum queue says how often it handed the message out before without an ack.
DELIVERY_COUNT_HEADER = 'x-delivery-count'

logger = logging.getLogger(__name__)
_connection = ThreadConnection()


class DeliveredTooOften(Exception):
    """The task's message was delivered more often than its retry policy allows without finishing."""


def check_redelivery(task: Task, max_retries: int) -> None:
    """Raise `DeliveredTooOften` past `max_retries + 1` deliveries, or on the last one a quorum queue makes."""
    request = task.request
    broker_count = request.get(DELIVERY_COUNT_HEADER)
    if broker_count is not None:
        deliveries = int(broker_count) + 1
        allowed = min(max_retries + 1, get_settings().TASK_QUEUE_DELIVERY_LIMIT)
    elif (request.delivery_info or {}).get('redelivered') and request.id:
        deliveries, allowed = _count(request.id), max_retries + 1
    else:
        return
    if deliveries > allowed:
        raise DeliveredTooOften(
            f'Task {task.name} was delivered {deliveries} times without finishing (its worker died each time?); '
            f'it is not run again.'
        )


def _count(task_id: str) -> int:
    """This delivery's number, counted in PostgreSQL; 0 (run it) when PostgreSQL cannot say."""
    try:
        return crud_result.count_delivery(_connection.get(), task_id)
    except psycopg.Error:
        # Counting is a safeguard: with PostgreSQL unreachable the task runs as it would without it.
        _connection.reset()
        logger.warning('could not count the deliveries of task %s', task_id, exc_info=True)
        return 0


def credit_released(task_ids: list[str]) -> bool:
    """Messages a worker gives back to the queue before starting them (`worker/look_ahead.py`).

    Their next delivery is marked `redelivered` like one after a crash, so each
    given back as a first delivery gets a credit: its next start counts as the
    delivery it is (a later one's count already skips it, as only starts are
    counted). False when PostgreSQL could not take the credit.
    """
    if not task_ids:
        return True
    try:
        crud_result.credit_released(_connection.get(), task_ids)
    except psycopg.Error:
        _connection.reset()
        logger.warning('could not credit the deliveries of %d messages to give back', len(task_ids), exc_info=True)
        return False
    return True
