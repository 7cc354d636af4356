"""The send form generated from a task's signature: one typed field per parameter, values read back typed."""

from typing import Any

import pytest
from celery import Celery
from pydantic import BaseModel, Field

from backend.app.task.console.task_form import EXTRA_ARGS, EXTRA_KWARGS, fields_of, read_call

app = Celery('console-form-test', set_as_current=False)


class Order(BaseModel):
    quantity: int = Field(ge=1, description='Units to ship')
    note: str = ''


@app.task(name='form.mixed')
def mixed(count: int, ratio: float, urgent: bool = False, label: str = 'x', data: Any = None, *rest: Any, **more: Any):
    """A task with one parameter of each kind."""


@app.task(name='form.order')
def order(quantity: int, note: str = '') -> None:
    """A task whose keyword arguments must fit a payload model."""


order.payload = Order


def test_fields_of_types_each_parameter_and_marks_required_ones() -> None:
    fields = {field.name: field for field in fields_of(mixed)}
    assert [(f.kind, f.required) for f in fields.values()] == [
        ('integer', True),
        ('number', True),
        ('checkbox', False),
        ('text', False),
        ('json', False),
        ('json', False),
        ('json', False),
    ]
    assert fields['label'].default == 'x' and fields['data'].default == ''
    assert EXTRA_ARGS in fields and EXTRA_KWARGS in fields


def test_read_call_types_values_and_names_the_fields_at_fault() -> None:
    fields = fields_of(mixed)
    form = {'count': '3', 'ratio': '0.5', 'urgent': 'on', 'data': '{"a": [1]}', EXTRA_KWARGS: '{"extra": 1}'}
    args, kwargs, errors = read_call(mixed, fields, form)
    assert errors == {}
    assert args == [] and kwargs == {'count': 3, 'ratio': 0.5, 'urgent': True, 'data': {'a': [1]}, 'extra': 1}
    _, _, errors = read_call(mixed, fields, {'count': '3.5', 'data': '{oops', EXTRA_ARGS: '{}'})
    assert errors == {
        'count': 'must be a whole number',
        'ratio': 'is required',
        'data': 'is not valid JSON',
        EXTRA_ARGS: 'must be a JSON list',
    }


@pytest.mark.parametrize(('quantity', 'error'), [('0', 'greater than or equal to 1'), ('2', None)])
def test_read_call_checks_the_payload_model(quantity: str, error: str | None) -> None:
    fields = fields_of(order)
    assert next(f for f in fields if f.name == 'quantity').help == 'Units to ship'
    _, kwargs, errors = read_call(order, fields, {'quantity': quantity})
    if error is None:
        assert errors == {} and kwargs == {'quantity': 2}
    else:
        assert error in errors['quantity']
