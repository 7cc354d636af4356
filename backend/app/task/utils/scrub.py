"""Removes the values of a call's secret arguments from the exception a task raised, before anyone records it.

The exception is changed in place as it leaves the task body, so the stored
result and traceback, the dead letter, the worker's log lines, the
`task-failed`/`task-retried` events (Flower) and a retry's reason all carry
the masked text. Rewritten: the exception's `args`, notes and string
attributes (a `Retry` keeps its reason's repr in one), and the same for the
exceptions it holds or was raised from. A message a custom `__str__` builds
from other values is not reached.
"""

from typing import Any

from backend.app.task.utils.redact import scrub_text, secret_values


def scrub_exception(exc: BaseException | None, param_names: list[str] | None, args: Any, kwargs: Any) -> None:
    values = secret_values(param_names, args or (), kwargs or {})
    if exc is not None and values:
        _scrub_exception(exc, values, set())


def _scrub_exception(exc: BaseException, values: set[str], seen: set[int]) -> None:
    if id(exc) in seen:
        return
    seen.add(id(exc))
    exc.args = tuple(_scrubbed(arg, values, seen) for arg in exc.args)
    for name, value in list(getattr(exc, '__dict__', {}).items()):
        setattr(exc, name, _scrubbed(value, values, seen))
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            _scrub_exception(linked, values, seen)


def _scrubbed(value: Any, values: set[str], seen: set[int]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, values)
    if isinstance(value, BaseException):
        _scrub_exception(value, values, seen)
    elif type(value) in (list, tuple):
        return type(value)(_scrubbed(item, values, seen) for item in value)
    elif isinstance(value, dict):
        return {key: _scrubbed(item, values, seen) for key, item in value.items()}
    return value
