"""Five-field crontab expressions: parsing, and the next fire time in an IANA zone across DST.

Our own maths rather than croniter's, because the DST rules are ours to choose:
a local time that does not exist (spring forward) fires at the first instant after
the gap; a fixed local hour that repeats (fall back) fires once, at its first
occurrence; a wildcard hour (`*` or `*/n`) fires in both repeated hours.
Day of month and day of week combine as in Vixie cron: when both are restricted
(neither starts with `*`) a day matching either fires.
"""

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.app.task.errors import InvalidSchedule

MONTHS = ('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec')
DAYS = ('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')
MACROS = {
    '@yearly': '0 0 1 1 *',
    '@annually': '0 0 1 1 *',
    '@monthly': '0 0 1 * *',
    '@weekly': '0 0 * * 0',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    '@hourly': '0 * * * *',
}
# (field name, lowest, highest, names for the values from `lowest`)
FIELDS = (
    ('minute', 0, 59, ()),
    ('hour', 0, 23, ()),
    ('day of month', 1, 31, ()),
    ('month', 1, 12, MONTHS),
    ('day of week', 0, 7, DAYS),
)
#: No expression may need longer than this to fire again (29 February on a given weekday: 28 years).
SEARCH_YEARS = 30
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field, sorted."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_or: bool  # both day fields restricted: either may match
    wildcard_hour: bool  # the hour field starts with `*`: fire in both repeated hours

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        return (dom or dow) if self.day_or else (dom and dow)


def parse(expression: str) -> Cron:
    """Parse `m h dom mon dow` (or an @macro); a bad field raises `InvalidSchedule` naming it."""
    text = MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != 5:
        raise InvalidSchedule(
            f'Crontab {expression!r} must have 5 fields (minute hour day-of-month month day-of-week), not {len(parts)}.'
        )
    values = [_parse_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(0 if day == 7 else day for day in values[4])
    return Cron(
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        day_or=not parts[2].startswith('*') and not parts[4].startswith('*'),
        wildcard_hour=parts[1].startswith('*'),
    )


def _parse_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    values: set[int] = set()
    for item in text.lower().split(','):
        span, _, step_text = item.partition('/')
        step = _number(step_text, name, text, names=()) if step_text else 1
        if step < 1:
            raise InvalidSchedule(f'Crontab {name} field {text!r}: the step must be at least 1.')
        if span == '*':
            first, last = low, high
        elif '-' in span:
            start, _, end = span.partition('-')
            first, last = _number(start, name, text, names, low), _number(end, name, text, names, low)
        else:
            first = _number(span, name, text, names, low)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise InvalidSchedule(f'Crontab {name} field {text!r}: values must be within {low}-{high}, in order.')
        values.update(range(first, last + 1, step))
    return values


def _number(text: str, name: str, field: str, names: tuple[str, ...], offset: int = 0) -> int:
    if text in names:
        return names.index(text) + offset
    if not (text.isascii() and text.isdigit()):  # str.isdigit() also takes other scripts' digits
        raise InvalidSchedule(f'Crontab {name} field {field!r}: {text!r} is not a number.')
    return int(text)


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or `InvalidSchedule`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'America'
        raise InvalidSchedule(f"Time zone {name!r} is not an IANA zone; use a name such as 'Europe/Berlin'.") from None


def next_fire(cron: Cron, tz: tzinfo, after: datetime) -> datetime | None:
    """The first fire instant strictly after `after` (aware), in UTC; None if there is none for decades."""
    after = after.astimezone(UTC)
    local = after.astimezone(tz).replace(tzinfo=None, fold=0)
    if local.replace(tzinfo=tz).utcoffset() != local.replace(tzinfo=tz, fold=1).utcoffset():
        # In a repeated hour, a later instant may carry an earlier wall-clock time: look back.
        local -= timedelta(hours=2)
    candidate = _next_local(cron, local.replace(second=0, microsecond=0) + MINUTE)
    best: datetime | None = None
    while candidate is not None:
        instants = _instants(cron, tz, candidate)
        if best is not None and instants[0] >= best:
            return best
        for instant in instants:
            if instant > after and (best is None or instant < best):
                best = instant
        candidate = _next_local(cron, candidate + MINUTE)
    return best


def _instants(cron: Cron, tz: tzinfo, local: datetime) -> list[datetime]:
    """The UTC instants a matching wall-clock time stands for, under our DST rules (earliest first)."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != local:  # in a spring-forward gap
        end = local + MINUTE
        while end.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != end:
            end += MINUTE
        return [end.replace(tzinfo=tz).astimezone(UTC)]
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if second != first and cron.wildcard_hour:  # a repeated hour
        return [first, second]
    return [first]


def _next_local(cron: Cron, start: datetime) -> datetime | None:
    """The first matching wall-clock minute at or after `start` (naive)."""
    day, at = start.date(), start.time()
    limit = day + timedelta(days=366 * SEARCH_YEARS)
    while day < limit:
        if cron.day_matches(day):
            found = _time_in_day(cron, at)
            if found is not None:
                return datetime.combine(day, found)
        day, at = day + timedelta(days=1), time(0, 0)
    return None


def _time_in_day(cron: Cron, at: time) -> time | None:
    index = bisect_left(cron.hours, at.hour)
    if index < len(cron.hours) and cron.hours[index] == at.hour:
        minute_index = bisect_left(cron.minutes, at.minute)
        if minute_index < len(cron.minutes):
            return time(at.hour, cron.minutes[minute_index])
        index += 1
    if index < len(cron.hours):
        return time(cron.hours[index], cron.minutes[0])
    return None
