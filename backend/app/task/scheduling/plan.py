"""When a schedule fires: its slots, its next run, and which missed slots run after downtime.

Pure functions shared by the service (next_run_at on every write) and beat
(what to send for a due row, and the next run after it), so both compute the
same instants. All instants are aware UTC datetimes.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery

from backend.app.task.errors import InvalidSchedule
from backend.app.task.messaging.queues import MAX_PRIORITY, check_queue
from backend.app.task.scheduling import cron

PERIOD_SECONDS = {'seconds': 1, 'minutes': 60, 'hours': 3600, 'days': 86400}
TINY = timedelta(microseconds=1)
#: Longest interval between two runs: one more would step past the year 9999, where dates end, within a lifetime.
INTERVAL_MAX_SECONDS = 100 * 366 * 86400


@dataclass(frozen=True)
class Timing:
    """The columns of a schedule that decide when it fires."""

    kind: str = 'interval'
    interval_every: int | None = None
    interval_period: str | None = None
    crontab: str | None = None
    clocked_at: datetime | None = None
    timezone: str = 'UTC'
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    one_off: bool = False
    misfire_policy: str = 'coalesce'
    misfire_grace_seconds: int = 60

    @classmethod
    def of(cls, row: Any) -> 'Timing':
        """From an ORM object, a schema or a dict row."""
        values = row if isinstance(row, dict) else vars(row)
        return cls(**{f.name: values[f.name] for f in fields(cls) if values.get(f.name) is not None})

    def validate(self) -> None:
        """Refuse a spec that cannot fire, naming what is wrong."""
        cron.zone(self.timezone)
        if self.kind == 'interval':
            if self.interval_every is None or self.interval_every <= 0:
                raise InvalidSchedule(f'An interval must be a positive whole number, not {self.interval_every}.')
            if self.interval_period not in PERIOD_SECONDS:
                raise InvalidSchedule(f'Interval period must be one of {", ".join(PERIOD_SECONDS)}.')
            if self.interval_every * PERIOD_SECONDS[self.interval_period] > INTERVAL_MAX_SECONDS:
                raise InvalidSchedule(
                    f'An interval may be at most 100 years, not {self.interval_every} {self.interval_period}.'
                )
        elif self.kind == 'crontab':
            if not self.crontab:
                raise InvalidSchedule('A crontab schedule needs an expression "m h dom mon dow".')
            if cron.next_fire(cron.parse(self.crontab), cron.zone(self.timezone), datetime.now(UTC)) is None:
                raise InvalidSchedule(f'Crontab {self.crontab!r} never fires.')
        elif self.kind == 'clocked':
            if self.clocked_at is None or self.clocked_at.tzinfo is None:
                raise InvalidSchedule('A clocked schedule needs one instant with a UTC offset.')
        else:
            raise InvalidSchedule(f'Schedule kind must be interval, crontab or clocked, not {self.kind!r}.')
        for name in ('start_at', 'end_at'):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidSchedule(f'{name} needs a UTC offset, e.g. 2030-01-31T09:00:00+01:00.')
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise InvalidSchedule(f'end_at ({self.end_at.isoformat()}) must be after start_at.')
        if self.max_runs is not None and self.max_runs < 1:
            raise InvalidSchedule(f'max_runs must be at least 1, not {self.max_runs}.')
        if self.misfire_grace_seconds < 0:
            raise InvalidSchedule('misfire_grace_seconds cannot be negative.')

    def slot_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after `after`, ignoring end_at and max_runs; None past the year 9999."""
        try:
            return self._slot_after(after)
        except OverflowError:
            return None

    def _slot_after(self, after: datetime) -> datetime | None:
        if self.kind == 'clocked':
            return self.clocked_at if self.clocked_at and self.clocked_at > after else None
        if self.kind == 'interval':
            every = timedelta(seconds=(self.interval_every or 0) * PERIOD_SECONDS[self.interval_period or 'seconds'])
            if self.start_at is None:
                return after + every
            if after < self.start_at:
                return self.start_at
            return self.start_at + every * ((after - self.start_at) // every + 1)
        start = self.start_at - TINY if self.start_at and after < self.start_at else after
        return cron.next_fire(cron.parse(self.crontab or ''), cron.zone(self.timezone), start)

    def first_run(self, now: datetime, total_run_count: int = 0) -> datetime | None:
        """next_run_at for a schedule written (or enabled) at `now`: never a slot before now."""
        if self.kind != 'clocked':
            return self.bounded(self.slot_after(now), total_run_count)
        slot = self.clocked_at if total_run_count == 0 else None
        return self.bounded(slot, total_run_count)

    def bounded(self, slot: datetime | None, runs: int) -> datetime | None:
        if slot is None or (self.end_at and slot > self.end_at) or (self.max_runs and runs >= self.max_runs):
            return None
        return slot


@dataclass(frozen=True)
class Claim:
    """What beat does with one due row: send `slots`, then store `next_run_at` and `enabled`."""

    slots: list[datetime]
    next_run_at: datetime | None
    enabled: bool


def plan_claim(timing: Timing, due: datetime, now: datetime, total_run_count: int, catch_up_limit: int) -> Claim:
    """Apply the misfire policy to a row due at `due`, now `now`."""
    if timing.misfire_policy == 'catch_up':
        slots: list[datetime] = []
        slot: datetime | None = due
        while slot is not None and slot <= now and len(slots) < catch_up_limit:
            slots.append(slot)
            slot = timing.slot_after(slot)
    else:
        on_time = (now - due).total_seconds() <= timing.misfire_grace_seconds
        slots = [due] if timing.misfire_policy == 'coalesce' or on_time else []
        slot = timing.slot_after(due)
    if slot is not None and slot <= now:
        slot = timing.slot_after(now)
    if timing.end_at:
        slots = [s for s in slots if s <= timing.end_at]
    if timing.max_runs:
        slots = slots[: max(timing.max_runs - total_run_count, 0)]
    if timing.one_off:
        slots = slots[:1]
    finished = timing.one_off and bool(slots)
    next_run_at = None if finished else timing.bounded(slot, total_run_count + len(slots))
    return Claim(slots=slots, next_run_at=next_run_at, enabled=not finished)


def check_send_fields(app: Celery, row: Mapping[str, Any]) -> None:
    """Refuse what a row (edited in SQL) would send but no message could carry as meant; the service's schemas
    refuse the same on every write."""
    if not isinstance(row['args'], list):
        raise InvalidSchedule(f'args must be a JSON array, not {type(row["args"]).__name__}.')
    if not isinstance(row['kwargs'], dict):
        raise InvalidSchedule(f'kwargs must be a JSON object, not {type(row["kwargs"]).__name__}.')
    priority, expires = row.get('priority'), row.get('expire_seconds')
    if priority is not None and not 0 <= priority <= MAX_PRIORITY:
        raise InvalidSchedule(f'priority must be within 0-{MAX_PRIORITY}, not {priority}.')
    if expires is not None and expires <= 0:
        raise InvalidSchedule(f'expire_seconds must be positive, not {expires}.')
    check_queue(app, row.get('queue'))


def slot_task_id(schedule_id: int, scheduled_for: datetime) -> str:
    """The task id of one slot, the same whichever beat sends it: `<schedule id>:<epoch ms>`."""
    return f'{schedule_id}:{int(scheduled_for.timestamp() * 1000)}'


def send_options(row: Any) -> dict[str, Any]:
    """Celery send options stored on a schedule (ORM object or dict row)."""
    values = row if isinstance(row, dict) else vars(row)
    options = {key: values.get(key) for key in ('queue', 'routing_key', 'priority')}
    options['expires'] = values.get('expire_seconds')
    return {key: value for key, value in options.items() if value is not None}
