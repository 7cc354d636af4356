"""Calls of a task without a payload model are checked against its type hints, without changing the values."""

from typing import Any

from celery import Celery

from backend.app.task.utils.signature import hint_errors

app = Celery('hints', set_as_current=False)


class Unvalidated:
    """A class pydantic has no schema for: its parameter accepts anything."""


@app.task(name='hints.total')
def total(lines: list[float], note, owner: Unvalidated | None = None) -> float:  # type: ignore[no-untyped-def]
    return sum(lines)


def test_a_value_its_hint_refuses_is_named_by_its_path() -> None:
    assert (
        hint_errors(total, {'lines': [1, 'x']})
        == 'lines.1: Input should be a valid number, unable to parse string as a number'
    )


def test_unannotated_and_unvalidatable_parameters_accept_anything() -> None:
    arguments: dict[str, Any] = {'lines': ['1.5', 2], 'note': object(), 'owner': 'anything'}
    assert hint_errors(total, arguments) is None
    assert arguments['lines'] == ['1.5', 2]
