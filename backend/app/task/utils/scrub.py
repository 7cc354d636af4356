"""Removes the values of a call's secret arguments from the exception a task raised, before anyone records it.

The exception is changed in place as it leaves the task body, so the stored
result and traceback, the dead letter, the worker's log lines, the
`task-failed`/`task-retried` events (Flower) and a retry's reason all carry
the masked text. Only the exception's `args` (and notes), and those of the
exceptions it was raised from, are rewritten: a message built from other
attributes in a custom `__str__` is not reached.
"""

from typing import Any

from backend.app.task.utils.redact import scrub_text, secret_values


def scrub_exception(exc: BaseException | None, param_names: list[str] | None, args: Any, kwargs: Any) -> None:
    values = secret_values(param_names, args or (), kwargs or {})
    if not values:
        return
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.args = tuple(_scrubbed(arg, values) for arg in exc.args)
        notes = getattr(exc, '__notes__', None)
        if isinstance(notes, list):
            exc.__notes__ = [_scrubbed(note, values) for note in notes]
        exc = exc.__cause__ or exc.__context__


def _scrubbed(value: Any, values: set[str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, values)
    if type(value) in (list, tuple):
        return type(value)(_scrubbed(item, values) for item in value)
    if isinstance(value, dict):
        return {key: _scrubbed(item, values) for key, item in value.items()}
    return value
