"""`TaskBase`, the class of every task, and `@task`, the decorator drop-in modules use.

TaskBase runs the app's hooks (logging first) around each task; feature code
customises a task by overriding `after_success`, `after_failure` or
`after_retry` in a subclass, never by re-implementing the logging. TaskBase is
the app's task class, so `@celery_app.task` and `@shared_task` tasks are
TaskBase tasks too (with or without `base=TaskBase`), and an `async def` body
runs on the worker process's event loop whichever decorator declared it.
"""

import functools
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, shared_task
from celery.app.task import Context
from celery.exceptions import Retry
from pydantic import BaseModel

from backend.app.task.constants import TIME_START
from backend.app.task.utils.event_loop import run_async
from backend.app.task.utils.hooks.base import TaskHook
from backend.app.task.utils.queues import PRIORITY_HEADER
from backend.app.task.utils.retry import FromSettings

logger = logging.getLogger(__name__)


#: The request of the task whose coroutine runs on the event loop: `self.request` there reads it, because
#: Celery keeps requests per thread and the coroutine runs on the loop's thread.
_loop_request: ContextVar[Context | None] = ContextVar('fba_loop_request', default=None)


def _on_event_loop(fun: Callable[..., Coroutine[Any, Any, Any]], bound: bool) -> Callable[..., Any]:
    """A synchronous `run` that runs the coroutine function on this process's event loop."""

    @functools.wraps(fun)
    def run(self: 'TaskBase', *args: Any, **kwargs: Any) -> Any:
        token = _loop_request.set(self.request)
        try:
            return run_async(fun(self, *args, **kwargs) if bound else fun(*args, **kwargs))
        finally:
            _loop_request.reset(token)

    return run


class TaskBase(Task):
    #: Worker request class: acknowledges a message only once its (possibly batched) result is committed.
    Request = 'backend.app.task.utils.result_batch:BatchedRequest'
    #: The task body is a coroutine run on the worker process's event loop.
    is_async: bool = False
    #: Optional pydantic model that the task's keyword arguments must fit.
    payload: type[BaseModel] | None = None
    # Celery's retry options; a task's own value replaces the TASK_RETRY_* setting's.
    autoretry_for = FromSettings()
    max_retries = FromSettings()
    retry_backoff = FromSettings()
    retry_backoff_max = FromSettings()
    retry_jitter = FromSettings()
    default_retry_delay = FromSettings()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """An `async def` body, however declared (`@task`, `@celery_app.task`, `@shared_task`, a `run` method),
        becomes a synchronous `run` that Celery's fast trace path calls like any other."""
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get('run')
        fun = run.__func__ if isinstance(run, staticmethod) else run
        if inspect.iscoroutinefunction(fun):
            cls.run = _on_event_loop(fun, bound=not isinstance(run, staticmethod))
            cls.is_async = True

    @property
    def request(self) -> Context:
        loop_request = _loop_request.get()
        return loop_request if loop_request is not None else super().request

    @property
    def hooks(self) -> list[TaskHook]:
        return getattr(self.app, 'hooks', [])

    def retry(self, *args: Any, **options: Any) -> Retry:
        """Celery's retry; on Redis the message keeps the priority the caller asked for (see utils/queues.py)."""
        wanted = getattr(self.request, PRIORITY_HEADER, None)
        if wanted is not None:
            options['headers'] = {**(options.get('headers') or {}), PRIORITY_HEADER: wanted}
        return super().retry(*args, **options)

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
    """Declare a task named `<feature>.<verb>_<noun>`; any Celery task option passes through."""
    return shared_task(name=name, base=base, **options)
