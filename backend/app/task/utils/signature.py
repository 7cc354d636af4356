"""A task's call signature, worked out once per task: argument checks and redaction need it on every call."""

import functools
import inspect

from celery import Task

_UNKNOWN = inspect.Signature()


@functools.cache
def task_signature(task: Task) -> inspect.Signature:
    try:
        return inspect.signature(task.run)
    except (TypeError, ValueError):
        return _UNKNOWN


def parameter_names(task: Task | None) -> list[str] | None:
    """The names positional arguments bind to; None for a task this process does not know (masking hides them all)."""
    return list(task_signature(task).parameters) if task is not None else None
