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
records as `worker_lost`.
"""

import logging

import psycopg
from celery import Task

from backend.app.task.crud import crud_result
from backend.app.task.utils.pg_connection import ThreadConnection

logger = logging.getLogger(__name__)
_connection = ThreadConnection()


class DeliveredTooOften(Exception):
    """The task's message was delivered more often than its retry policy allows without finishing."""


def check_redelivery(task: Task, max_retries: int) -> None:
    """Raise `DeliveredTooOften` if `task`'s current message is a redelivery past `max_retries + 1` deliveries."""
    request = task.request
    if not (request.delivery_info or {}).get('redelivered') or not request.id:
        return
    try:
        deliveries = crud_result.count_delivery(_connection.get(), request.id)
    except psycopg.Error:
        # Counting is a safeguard: with PostgreSQL unreachable the task runs as it would without it.
        _connection.reset()
        logger.warning('could not count the deliveries of task %s', request.id, exc_info=True)
        return
    if deliveries > max_retries + 1:
        raise DeliveredTooOften(
            f'Task {task.name} was delivered {deliveries} times without finishing (its worker died each time?); '
            f'it is not run again.'
        )
