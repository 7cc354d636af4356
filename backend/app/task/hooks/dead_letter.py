"""Puts every task that failed for good into the dead-letter store, saying how it got there."""

from typing import Any

from billiard.einfo import ExceptionInfo
from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Task
from celery.exceptions import BackendStoreError, SoftTimeLimitExceeded
from celery.signals import task_failure
from kombu.exceptions import EncodeError

from backend.app.task.hooks.base import TaskHook
from backend.app.task.reliability import dead_letters
from backend.app.task.reliability.deliveries import DeliveredTooOften
from backend.app.task.reliability.retry import retries_exception


def failure_reason(task: Task, exc: BaseException) -> str:
    """`time_limit`, `worker_lost` (also: redelivered too often), `unstorable` (a value in its call or result that
    JSON or PostgreSQL cannot hold), `retries_exhausted` (the task's `autoretry_for` covers it) or `non_retryable`."""
    if isinstance(exc, TimeLimitExceeded | SoftTimeLimitExceeded):
        return 'time_limit'
    if isinstance(exc, WorkerLostError | DeliveredTooOften):
        return 'worker_lost'
    if isinstance(exc, EncodeError):
        return 'unstorable'
    return 'retries_exhausted' if retries_exception(task, exc) else 'non_retryable'


class DeadLetterHook(TaskHook):
    def __init__(self) -> None:
        # A task whose worker process died on its last attempt is failed by the worker's parent, which sends
        # `task_failure` but runs no task hook (a task's own failures never carry WorkerLostError).
        task_failure.connect(_on_worker_lost, weak=False, dispatch_uid='fba.dead_letter.worker_lost')

    def on_failure(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        if isinstance(exc, BackendStoreError):
            return  # not failed for good: its state could not be stored, so its message is requeued
        # On a hard time limit this runs in the worker's parent process, where `task.request` is empty.
        request = task.request
        dead_letters.record(
            reason=failure_reason(task, exc),
            task_id=task_id,
            task_name=task.name,
            args=list(args or ()),
            kwargs=kwargs,
            queue=(request.delivery_info or {}).get('routing_key'),
            exc=exc,
            traceback=getattr(einfo, 'traceback', None),
            retries=request.retries or 0,
            worker=request.hostname,
        )


def _on_worker_lost(
    sender: Task, task_id: str, exception: BaseException, args: tuple, kwargs: dict[str, Any], einfo: Any, **_: Any
) -> None:
    if not isinstance(exception, WorkerLostError):
        return
    for hook in getattr(sender, 'hooks', ()):
        if isinstance(hook, DeadLetterHook):
            hook.on_failure(sender, exception, task_id, args, kwargs, einfo)
