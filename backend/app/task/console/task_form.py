"""A send form generated from a task's signature and payload model, and the reading of what the user typed.

Each parameter becomes one labelled field whose input type follows its annotation
(or the payload model's field); values are converted here so a mistake is shown
next to its field before anything is sent. The service checks the call again.
"""

import inspect
import json
from dataclasses import dataclass
from typing import Any

from celery import Task
from pydantic import BaseModel, ValidationError

from backend.app.task.utils.signature import task_signature

#: Annotation -> input kind; anything else is typed as JSON.
KINDS: dict[Any, str] = {int: 'integer', float: 'number', bool: 'checkbox', str: 'text'}
EXTRA_ARGS, EXTRA_KWARGS = '__args', '__kwargs'
NOT_A = {'integer': 'must be a whole number', 'number': 'must be a number'}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # integer, number, checkbox, text or json
    required: bool
    default: str
    help: str | None = None


def _field_of(param: inspect.Parameter, payload: type[BaseModel] | None) -> FormField:
    declared = payload.model_fields.get(param.name) if payload is not None else None
    annotation = declared.annotation if declared is not None else param.annotation
    kind = KINDS.get(annotation, 'json')
    has_default = param.default is not inspect.Parameter.empty
    # No default, or None: the field starts blank, and a blank optional field is left out of the call.
    default = param.default if has_default and param.default is not None else ''
    shown = json.dumps(default) if kind == 'json' and default != '' else str(default)
    hint = declared.description if declared is not None else None
    if kind == 'json':
        hint = hint or 'JSON, e.g. [1, 2] or {"a": 1} or "text"'
    return FormField(param.name, param.name.replace('_', ' '), kind, not has_default, shown, hint)


def fields_of(task: Task) -> list[FormField]:
    payload = getattr(task, 'payload', None)
    shown = []
    for param in task_signature(task).parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            shown.append(FormField(EXTRA_ARGS, 'more positional arguments', 'json', False, '[]', 'A JSON list'))
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            shown.append(FormField(EXTRA_KWARGS, 'more keyword arguments', 'json', False, '{}', 'A JSON object'))
        else:
            shown.append(_field_of(param, payload))
    return shown


def _convert(field: FormField, raw: str) -> Any:
    if field.kind == 'checkbox':
        return raw in ('on', 'true', '1')
    if field.kind == 'integer':
        return int(raw)
    if field.kind == 'number':
        return float(raw)
    if field.kind == 'json':
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError('is not valid JSON') from None
    return raw


def read_call(
    task: Task, fields: list[FormField], form: dict[str, str]
) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """(args, kwargs, errors by field name) from the submitted form; values typed as the fields say."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        raw = form.get(field.name, '').strip()
        if raw == '' and field.kind != 'checkbox':
            if field.required:
                errors[field.name] = 'is required'
            continue
        try:
            value = _convert(field, raw)
        except ValueError as error:
            errors[field.name] = str(error) if field.kind == 'json' else NOT_A[field.kind]
            continue
        if field.name == EXTRA_ARGS:
            if not isinstance(value, list):
                errors[field.name] = 'must be a JSON list'
            args = value if isinstance(value, list) else []
        elif field.name == EXTRA_KWARGS:
            if not isinstance(value, dict):
                errors[field.name] = 'must be a JSON object'
            kwargs.update(value if isinstance(value, dict) else {})
        else:
            kwargs[field.name] = value
    payload = getattr(task, 'payload', None)
    if payload is not None and not errors:
        try:
            payload.model_validate(kwargs)
        except ValidationError as error:
            for item in error.errors():
                errors.setdefault(str(item['loc'][0]) if item['loc'] else '', item['msg'])
    return args, kwargs, errors
