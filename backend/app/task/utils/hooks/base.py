"""The one extension point for cross-cutting task behaviour (logging, dead letters, metrics).

Each hook sees every task of the app. Start hooks run in list order and the
others in reverse, so a hook wraps the ones after it. A hook that raises is
logged and skipped: observability must never change a task's outcome.
"""

from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task


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
