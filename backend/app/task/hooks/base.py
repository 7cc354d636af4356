"""The one extension point for cross-cutting task behaviour (logging, dead letters, metrics).

Each hook sees every task of the app. Start hooks run in list order and the
others in reverse, so a hook wraps the ones after it. A hook that raises is
logged and skipped: observability must never change a task's outcome.
"""

import time
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task

from backend.app.task.constants import TIME_START


def run_time(task: Task) -> float | None:
    """Seconds since the running task's body started (None when it never started)."""
    started = getattr(task.request, TIME_START, None)
    return None if started is None else time.monotonic() - started


class TaskHook:
    def on_start(self, task: Task, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """Before the task body runs."""

    def on_success(self, task: Task, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """After the body returned."""

    def on_failure(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        """After the body raised and no retry follows."""

    def on_retry(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        """After the body raised and a retry was scheduled."""
