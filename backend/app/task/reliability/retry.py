"""The defaults of Celery's own retry options, taken from the `TASK_RETRY_*` settings.

Retrying is Celery's `autoretry_for` mechanism, unchanged: a task that sets
`autoretry_for`, `max_retries`, `retry_backoff`, `retry_backoff_max`,
`retry_jitter` or `default_retry_delay` gets exactly what Celery documents. A
`TaskBase` task that sets none of them gets the settings' values, read when
the attribute is read, so a worker follows its own settings.
"""

import builtins
from functools import cache
from typing import Any

from celery import Task
from kombu.utils.imports import symbol_by_name

from backend.core.conf import get_settings


@cache
def exception_class(name: str) -> type[BaseException]:
    """`ConnectionError` (a builtin) or a dotted path such as `psycopg.OperationalError`."""
    found = getattr(builtins, name, None) if '.' not in name else symbol_by_name(name)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ValueError(f'{name!r} is not an exception class')
    return found


def retry_defaults() -> dict[str, Any]:
    """Celery's retry options as the settings set them (backoff in whole seconds, as Celery counts it)."""
    settings = get_settings()
    return {
        'autoretry_for': tuple(exception_class(name) for name in settings.retry_on_names),
        'max_retries': settings.TASK_RETRY_MAX,
        'retry_backoff': settings.TASK_RETRY_BACKOFF_BASE,
        'retry_backoff_max': settings.TASK_RETRY_BACKOFF_CAP,
        'retry_jitter': settings.TASK_RETRY_JITTER,
        'default_retry_delay': settings.TASK_RETRY_BACKOFF_BASE,
    }


class FromSettings:
    """A task class attribute whose value is the setting's; a task's own option (a class attribute) replaces it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return retry_defaults()[self.name]


def retries_exception(task: Task, exc: BaseException) -> bool:
    """True when the task's `autoretry_for` (less `dont_autoretry_for`) covers `exc`: its failure used up retries."""
    retried = tuple(getattr(task, 'autoretry_for', None) or ())
    excluded = tuple(getattr(task, 'dont_autoretry_for', None) or ())
    return isinstance(exc, retried) and not isinstance(exc, excluded)
