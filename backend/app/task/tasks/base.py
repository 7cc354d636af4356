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
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, current_task, shared_task
from celery.app.task import Context
from celery.exceptions import Retry
from pydantic import BaseModel

from backend.app.task.constants import TIME_START
from backend.app.task.hooks.base import TaskHook
from backend.app.task.messaging.queues import PRIORITY_HEADER
from backend.app.task.reliability.deliveries import check_redelivery
from backend.app.task.reliability.retry import FromSettings
from backend.app.task.utils.json_safety import check_storable
from backend.app.task.utils.scrub import scrub_exception
from backend.app.task.worker.event_loop import run_async

logger = logging.getLogger(__name__)


#: The request of the task whose coroutine runs on the event loop: `self.request` there reads it, because
#: Celery keeps requests per thread and the coroutine runs on the loop's thread.
_loop_request: ContextVar[Context | None] = ContextVar('fba_loop_request', default=None)


def _wrap_run(fun: Callable[..., Any], bound: bool) -> Any:
    """A task class's `run`: the body, on this process's event loop if it is a coroutine function, whose exception
    has the values of secret arguments scrubbed from it before anything records it (result, dead letter, logs,
    events). It wraps the body, not `__call__`, so Celery's fast trace path stays on; a body without `self` stays a
    staticmethod, so signature checks see its own parameters."""
    names = list(inspect.signature(fun).parameters)[1 if bound else 0 :]
    is_async = inspect.iscoroutinefunction(fun)

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            if not is_async:
                return fun(*args, **kwargs)
            token = _loop_request.set((args[0] if bound else current_task).request)
            try:
                return run_async(fun(*args, **kwargs))
            finally:
                _loop_request.reset(token)
        except BaseException as exc:
            scrub_exception(exc, names, args[1:] if bound else args, kwargs)
            raise

    return run if bound else staticmethod(run)


class TaskBase(Task):
    #: Worker request class: acknowledges a message only once its (possibly batched) result is committed, and
    #: shows the call and result masked in events and `celery inspect`. A task that names its own class gets this
    #: one beneath it (`start_strategy`).
    Request = 'backend.app.task.worker.masked_request:MaskedRequest'
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
        """A body however declared (`@task`, `@celery_app.task`, `@shared_task`, a `run` method) is wrapped once,
        here: an `async def` one becomes a synchronous `run` that Celery's fast trace path calls like any other."""
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get('run')
        if run is None:
            return
        fun = run.__func__ if isinstance(run, staticmethod) else run
        cls.is_async = inspect.iscoroutinefunction(fun)
        cls.run = _wrap_run(fun, bound=not isinstance(run, staticmethod))

    def start_strategy(self, app: Any, consumer: Any, **kwargs: Any) -> Any:
        """A task's own `Request` class (Celery lets a task name one) gets the worker's behaviour too, below it."""
        from backend.app.task.worker.masked_request import with_masking

        self.Request = with_masking(self.Request)  # type: ignore[assignment]  # Celery takes a class or a path
        return super().start_strategy(app, consumer, **kwargs)

    @property
    def request(self) -> Context:
        loop_request = _loop_request.get()
        return loop_request if loop_request is not None else super().request

    @property
    def hooks(self) -> list[TaskHook]:
        return getattr(self.app, 'hooks', [])

    def retry(self, *args: Any, **options: Any) -> Retry:
        """Celery's retry; on Redis the message keeps the priority the caller asked for (see messaging/queues.py)."""
        wanted = getattr(self.request, PRIORITY_HEADER, None)
        if wanted is not None:
            options['headers'] = {**(options.get('headers') or {}), PRIORITY_HEADER: wanted}
        return super().retry(*args, **options)

    def before_start(self, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """Refuse, before the body runs, a message that cannot end well: a value the result store cannot take
        (published by code that bypassed our checks) or one redelivered past its limit. Raising here fails the
        task like its body would: a FAILURE row and a dead letter."""
        check_storable(task_id, 'task_id')
        check_storable(args, 'args')
        check_storable(kwargs, 'kwargs')
        check_redelivery(self, self.max_retries or 0)
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
