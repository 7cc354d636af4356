"""One structured log line per task start, success (with run time) and failure, secrets masked."""

import logging
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task

from backend.app.task.hooks.base import TaskHook, run_time
from backend.app.task.utils.redact import redact_call
from backend.app.task.utils.signature import parameter_names

logger = logging.getLogger('fba.task')
#: Celery's logger of task outcomes: its INFO lines print a task's return value and a retry's reason unmasked.
CELERY_TRACE_LOGGER = 'celery.app.trace'


def quiet_celery_trace() -> None:
    """Keep only Celery's WARNING and ERROR outcome lines in a worker; this hook's lines say the rest, masked."""
    logging.getLogger(CELERY_TRACE_LOGGER).setLevel(logging.WARNING)


class LoggingHook(TaskHook):
    def on_start(self, task: Task, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return  # the line would be dropped: skip masking the arguments (the cost at WARNING, per task)
        shown_args, shown_kwargs = redact_call(parameter_names(task), args, kwargs)
        logger.info(
            'event=task.started task=%s id=%s args=%s kwargs=%s',
            task.name,
            task_id,
            shown_args,
            shown_kwargs,
            extra={'action': 'task.started', 'task_name': task.name, 'task_id': task_id},
        )

    def on_success(self, task: Task, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        runtime = run_time(task) or 0.0
        logger.info(
            'event=task.succeeded task=%s id=%s runtime=%.4fs',
            task.name,
            task_id,
            runtime,
            extra={'action': 'task.succeeded', 'task_name': task.name, 'task_id': task_id, 'runtime': runtime},
        )

    def on_failure(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        self._log_error('task.failed', task, exc, task_id)

    def on_retry(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        self._log_error('task.retrying', task, exc, task_id)

    @staticmethod
    def _log_error(event: str, task: Task, exc: BaseException, task_id: str) -> None:
        logger.log(
            logging.WARNING if event == 'task.retrying' else logging.ERROR,
            'event=%s task=%s id=%s retries=%s exc_type=%s exc_message=%s',
            event,
            task.name,
            task_id,
            task.request.retries,
            type(exc).__name__,
            str(exc)[:500],
            extra={'action': event, 'task_name': task.name, 'task_id': task_id},
        )
