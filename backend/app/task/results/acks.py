"""Settle a worker request's message now, on the event loop: where results are committed apart from the tasks
(`batch.py`, `relay.py`), the acknowledgement comes after the commit, not through Celery's usual path."""

import logging

from celery.worker.request import Request

logger = logging.getLogger(__name__)


def ack_now(request: Request, multiple: bool = False) -> None:
    request.message.ack_log_error(logger, request.connection_errors, multiple=multiple)
    request.acknowledged = True


def reject_now(request: Request, requeue: bool) -> None:
    request.message.reject_log_error(logger, request.connection_errors, requeue=requeue)
    request.acknowledged = True
    request.send_event('task-rejected', requeue=requeue)
