"""A task's call signature, worked out once per task: argument checks and redaction need it on every call."""

import functools
import inspect
import typing
from typing import Any

from celery import Task
from pydantic import TypeAdapter, ValidationError

_UNKNOWN = inspect.Signature()
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@functools.cache
def task_signature(task: Task) -> inspect.Signature:
    try:
        return inspect.signature(task.run)
    except (TypeError, ValueError):
        return _UNKNOWN


def parameter_names(task: Task | None) -> list[str] | None:
    """The names positional arguments bind to; None for a task this process does not know (masking hides them all)."""
    return list(task_signature(task).parameters) if task is not None else None


@functools.cache
def _hint_checks(task: Task) -> dict[str, TypeAdapter[Any]]:
    """A validator per type-hinted parameter, built once per task; a hint pydantic cannot check accepts anything."""
    try:
        hints = typing.get_type_hints(task.run)
    except Exception:  # a hint naming something this process cannot import: nothing to check against
        return {}
    checks: dict[str, TypeAdapter[Any]] = {}
    for name, parameter in task_signature(task).parameters.items():
        if name in hints and parameter.kind not in _VARIADIC:
            try:
                checks[name] = TypeAdapter(hints[name])
            except Exception:  # e.g. an arbitrary class pydantic has no schema for
                continue
    return checks


def hint_errors(task: Task, arguments: dict[str, Any]) -> str | None:
    """`field: reason` for each bound argument its type hint refuses; checked only, the values sent stay as given."""
    problems = []
    for name, check in _hint_checks(task).items():
        if name not in arguments:
            continue
        try:
            check.validate_python(arguments[name])
        except ValidationError as error:
            problems += [f'{".".join(map(str, (name, *e["loc"])))}: {e["msg"]}' for e in error.errors()]
    return '; '.join(problems) or None
