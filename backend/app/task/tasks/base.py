"""`TaskBase`, the class of every task, and `@task`, the decorator drop-in modules use.

TaskBase runs the app's hooks (logging first) around each task; feature code
customises a task by overriding `after_success`, `after_failure` or
`after_retry` in a subclass, never by re-implementing the logging.
"""

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, shared_task
from celery.exceptions import Retry
from pydantic import BaseModel

from backend.app.task.constants import TIME_START
from backend.app.task.utils import delivery_limit
from backend.app.task.utils.event_loop import run_async
from backend.app.task.utils.hooks.base import TaskHook
from backend.app.task.utils.queues import PRIORITY_HEADER
from backend.app.task.utils.retry import RetryPolicy
from backend.core.conf import get_settings

logger = logging.getLogger(__name__)


class TaskBase(Task):
    #: Worker request class: acknowledges a message only once its (possibly batched) result is committed.
    Request = 'backend.app.task.utils.result_batch:BatchedRequest'
    #: The task body is a coroutine run on the worker process's event loop.
    is_async: bool = False
    #: Optional pydantic model that the task's keyword arguments must fit.
    payload: type[BaseModel] | None = None
    #: This task's retry rules; unset fields come from the TASK_RETRY_* settings.
    retry_policy: RetryPolicy | None = None

    @property
    def hooks(self) -> list[TaskHook]:
        return getattr(self.app, 'hooks', [])

    @property
    def policy(self) -> RetryPolicy:
        return (self.retry_policy or RetryPolicy()).over(RetryPolicy.from_settings(get_settings()))

    @property
    def max_retries(self) -> int | None:
        """Celery reads this when a worker process dies mid-task (`task_retry_on_worker_lost`): the policy's limit."""
        return self.policy.max_retries

    @property
    def default_retry_delay(self) -> float:
        """...and this as the wait before that retry: the policy's first backoff."""
        return self.policy.delay(0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body; a retryable exception schedules the next attempt after the policy's backoff."""
        if not self.request.called_directly:
            delivery_limit.check(self.request)
        try:
            return super().__call__(*args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            policy = self.policy
            retries = self.request.retries or 0
            if self.request.called_directly or not policy.retries(exc) or retries >= (policy.max_retries or 0):
                raise
            # The caller's priority travels in a header (see utils/queues.py); the retry message keeps it.
            wanted = getattr(self.request, PRIORITY_HEADER, None)
            headers = {PRIORITY_HEADER: wanted} if wanted is not None else None
            raise self.retry(
                exc=exc, countdown=policy.delay(retries), max_retries=policy.max_retries, headers=headers
            ) from exc

    def before_start(self, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        setattr(self.request, TIME_START, time.monotonic())
        for hook in self.hooks:
            self._safely(hook.on_start, self, task_id, args, kwargs)

    def on_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        for hook in reversed(self.hooks):
            self._safely(hook.on_success, self, retval, task_id, args, kwargs)
        self._safely(self.after_success, retval, task_id, args, kwargs)

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        for hook in reversed(self.hooks):
            self._safely(hook.on_failure, self, exc, task_id, args, kwargs, einfo)
        self._safely(self.after_failure, exc, task_id, args, kwargs, einfo)

    def on_retry(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        for hook in reversed(self.hooks):
            self._safely(hook.on_retry, self, exc, task_id, args, kwargs, einfo)
        self._safely(self.after_retry, exc, task_id, args, kwargs, einfo)

    def after_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """Feature hook: the task returned."""

    def after_failure(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        """Feature hook: the task failed for good."""

    def after_retry(
        self, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        """Feature hook: the task failed and will run again."""

    def _safely(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.critical('hook %r of task %s raised; ignored', hook, self.name, exc_info=True)


def task(name: str, *, base: type[TaskBase] = TaskBase, **options: Any) -> Callable[[Callable[..., Any]], TaskBase]:
    """Declare a task named `<feature>.<verb>_<noun>`; `async def` bodies run on the worker's loop."""

    def decorate(fn: Callable[..., Any]) -> TaskBase:
        body = fn
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            def body(*args: Any, **kwargs: Any) -> Any:
                return run_async(fn(*args, **kwargs))

        is_async = inspect.iscoroutinefunction(fn)
        return shared_task(name=name, base=base, is_async=is_async, **options)(body)

    return decorate
