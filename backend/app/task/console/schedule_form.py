"""The schedule form: what the user typed turned into the service's parameters, with errors per field.

A datetime-local input has no offset: it is read in the time zone chosen on the
form (the app's TIMEZONE when none), as the user sees it.
"""

import json
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from backend.app.task.errors import InvalidSchedule
from backend.app.task.scheduling.cron import zone
from backend.app.task.schema.schedule import GetScheduleDetail
from backend.core.conf import get_settings

P = TypeVar('P', bound=BaseModel)

TEXT_FIELDS = ('name', 'task', 'kind', 'interval_period', 'crontab', 'timezone', 'queue', 'description')
INT_FIELDS = ('interval_every', 'priority', 'max_runs', 'version')
LOCAL_TIMES = ('clocked_at', 'start_at', 'end_at')
JSON_FIELDS = ('args', 'kwargs')
#: Fields the form shows that an empty input clears (the edit form patches only the fields it shows).
CLEARED_AS: dict[str, Any] = {'queue': None, 'description': None, 'timezone': None, 'args': [], 'kwargs': {}}
#: Spec fields, as the preview service takes them.
SPEC_FIELDS = ('kind', 'interval_every', 'interval_period', 'crontab', 'clocked_at', 'timezone', 'start_at', 'end_at')


def _zone_of(form: dict[str, str]) -> ZoneInfo | None:
    try:
        return zone(form.get('timezone') or get_settings().TIMEZONE)
    except InvalidSchedule:  # reported by the service, naming the field
        return None


def _local_time(raw: str, tz: ZoneInfo | None) -> datetime | str:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # left for the schema to refuse, naming the field
    return value.replace(tzinfo=tz) if value.tzinfo is None and tz is not None else value


def values_of(form: dict[str, str], fields: tuple[str, ...] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of the filled-in fields, and errors the typing found.

    Blank fields are left out, except those a blank clears (in a whole form, `fields` None).
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    tz = _zone_of(form)
    for name, raw in form.items():
        raw = raw.strip()
        if fields is not None and name not in fields:
            continue
        if not raw:
            if fields is None and name in CLEARED_AS:
                values[name] = CLEARED_AS[name]
            continue
        if name in TEXT_FIELDS:
            values[name] = raw
        elif name in INT_FIELDS:
            try:
                values[name] = int(raw)
            except ValueError:
                errors[name] = 'must be a whole number'
        elif name in LOCAL_TIMES:
            values[name] = _local_time(raw, tz)
        elif name in JSON_FIELDS:
            try:
                values[name] = json.loads(raw)
            except ValueError:
                errors[name] = 'is not valid JSON'
    if fields is None:
        values['enabled'] = form.get('enabled') == 'on'
    return values, errors


def parse(model: type[P], form: dict[str, str], **extra: Any) -> tuple[P | None, dict[str, str]]:
    """The parameters `model` describes, or None and a message per field."""
    values, errors = values_of(form)
    if errors:
        return None, errors
    try:
        return model.model_validate({**values, **extra}), {}
    except ValidationError as error:
        return None, {
            str(e['loc'][0]) if e['loc'] else '': e['msg'].removeprefix('Value error, ') for e in error.errors()
        }


def form_of(schedule: GetScheduleDetail) -> dict[str, str]:
    """A stored schedule as the form shows it (times in the schedule's own zone, without offset)."""
    tz = ZoneInfo(schedule.timezone)
    shown: dict[str, str] = {}
    for name, value in schedule.model_dump().items():
        if value is None:
            shown[name] = ''
        elif name in LOCAL_TIMES:
            shown[name] = value.astimezone(tz).strftime('%Y-%m-%dT%H:%M:%S')
        elif name in JSON_FIELDS:
            shown[name] = json.dumps(value)
        else:
            shown[name] = str(value)
    shown['enabled'] = 'on' if schedule.enabled else ''
    return shown
