"""Celery `beat_schedule` entries as schedule rows: the shape of `LOCAL_BEAT_SCHEDULE` and `app.conf.beat_schedule`.

An entry is `{'task', 'schedule', 'args', 'kwargs', 'options', 'relative'}` as
Celery documents it; `schedule` is a `crontab`, a `schedule`, a timedelta or
int/float seconds (also, as our extension, a crontab string or an aware
datetime for a one-off). A schedule the table cannot hold exactly (a `solar`
one, fractions of a second, a crontab restricting both day fields, which
Celery ANDs and cron ORs) is refused with `InvalidSchedule` naming the entry,
so beat stops with that sentence instead of firing at other times.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import crontab, schedule

from backend.app.task.errors import InvalidSchedule

#: Celery's per-entry `options` that a schedule row keeps; `expires` is stored as seconds.
KEPT_OPTIONS = ('queue', 'routing_key', 'priority', 'expires')
#: (crontab attribute, every value it can take) in cron's field order.
CRON_FIELDS = (
    ('minute', range(60)),
    ('hour', range(24)),
    ('day_of_month', range(1, 32)),
    ('month_of_year', range(1, 13)),
    ('day_of_week', range(7)),
)


def merged_entries(local: Mapping[str, Any], conf: Mapping[str, Any]) -> dict[str, Any]:
    """`LOCAL_BEAT_SCHEDULE` and `app.conf.beat_schedule` together; one name defined twice differently is refused."""
    for name in local.keys() & conf.keys():
        if local[name] != conf[name]:
            raise InvalidSchedule(
                f'Code schedule {name!r} is defined both in LOCAL_BEAT_SCHEDULE and in app.conf.beat_schedule.'
            )
    return {**conf, **local}


def entry_fields(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The `CreateScheduleParam` fields of one entry."""
    if not isinstance(entry, Mapping) or 'schedule' not in entry:
        raise InvalidSchedule(f'Code schedule {name!r} must be a dict with a task and a schedule.')
    if entry.get('relative'):
        raise InvalidSchedule(f"Code schedule {name!r}: 'relative': True cannot be stored; leave it out.")
    fields = {key: value for key, value in entry.items() if key not in ('schedule', 'options', 'relative')}
    fields.update(_options(name, entry.get('options') or {}))
    fields.update(schedule_spec(name, entry['schedule']))
    fields['args'] = list(fields.get('args') or [])
    return {'name': name, **fields}


def schedule_spec(name: str, when: Any) -> dict[str, Any]:
    """The kind and timing fields of a row for one `schedule` value."""
    if isinstance(when, crontab):
        return {'kind': 'crontab', 'crontab': crontab_text(name, when)}
    if isinstance(when, schedule):
        when = when.run_every
    if isinstance(when, timedelta):
        when = when.total_seconds()
    if isinstance(when, str):
        return {'kind': 'crontab', 'crontab': when}
    if isinstance(when, datetime):
        return {'kind': 'clocked', 'clocked_at': when}
    if isinstance(when, int | float) and not isinstance(when, bool):
        if not float(when).is_integer():
            raise InvalidSchedule(f'Code schedule {name!r}: {when} s is not whole seconds, which a schedule stores.')
        return {'kind': 'interval', 'interval_every': int(when), 'interval_period': 'seconds'}
    raise InvalidSchedule(
        f'Code schedule {name!r}: a {type(when).__name__} schedule cannot be stored; '
        'use a crontab, a schedule, a timedelta or seconds.'
    )


def crontab_text(name: str, cron: crontab) -> str:
    """ "m h dom mon dow" of a Celery crontab, read from its expanded (public) value sets."""
    fields = {attr: _cron_field(getattr(cron, attr), every) for attr, every in CRON_FIELDS}
    if fields['day_of_month'] != '*' and fields['day_of_week'] != '*':
        raise InvalidSchedule(
            f'Code schedule {name!r}: a crontab restricting both day_of_month and day_of_week cannot be stored '
            '(Celery needs both to match, cron either); split it in two entries.'
        )
    return ' '.join(fields[attr] for attr, _ in CRON_FIELDS)


def _cron_field(values: Iterable[int], every: range) -> str:
    chosen = sorted(set(values))
    if chosen == list(every):
        return '*'
    parts: list[str] = []
    start = previous = chosen[0]
    for value in [*chosen[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(start) if start == previous else f'{start}-{previous}')
        if value is not None:
            start = previous = value
    return ','.join(parts)


def _options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(KEPT_OPTIONS))
    if unknown:
        raise InvalidSchedule(
            f'Code schedule {name!r}: option {unknown[0]!r} cannot be stored; '
            f'a schedule keeps {", ".join(KEPT_OPTIONS)}.'
        )
    kept = {key: value for key, value in options.items() if key != 'expires'}
    expires = options.get('expires')
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
            raise InvalidSchedule(f"Code schedule {name!r}: option 'expires' must be a positive number of seconds.")
        kept['expire_seconds'] = max(1, round(expires))
    return kept
