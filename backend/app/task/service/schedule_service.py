"""Schedules: create, edit (optimistically, on `version`), enable, run now, list, preview.

Every write validates the spec and computes next_run_at (UTC) in the schedule's
zone, so beat only has to read due rows. Functions never commit: the caller owns
the transaction. The Celery app (task names, queues, sending) is the caller's `app`:
the API's dependency, the CLI's or beat's own.
"""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from celery import Celery
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.constants import API_ID_MAX
from backend.app.task.crud.crud_schedule import schedule_dao
from backend.app.task.errors import InvalidSchedule, ScheduleConflict, ScheduleNotFound, TaskError
from backend.app.task.messaging.dispatch import publish
from backend.app.task.model.schedule import TaskSchedule, TaskScheduleRun
from backend.app.task.scheduling import beat_entries
from backend.app.task.scheduling.plan import Timing, check_send_fields, send_options, slot_task_id
from backend.app.task.schema.common import validation_sentence
from backend.app.task.schema.schedule import (
    CreateScheduleParam,
    GetScheduleDetail,
    GetScheduleRunDetail,
    PatchScheduleParam,
    PreviewScheduleParam,
    UpdateScheduleParam,
)
from backend.app.task.service.task_service import check_arguments
from backend.app.task.utils.redact import restore_masked
from backend.app.task.utils.signature import parameter_names
from backend.core.conf import get_settings

P = TypeVar('P', bound=BaseModel)
SPEC_COLUMNS = {'interval': ('interval_every', 'interval_period'), 'crontab': ('crontab',), 'clocked': ('clocked_at',)}


def build_param(model: type[P], values: Mapping[str, Any]) -> P:
    """A schedule schema from CLI flags or a code entry; a field that does not fit is `InvalidSchedule` naming it."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise InvalidSchedule(f'Invalid schedule: {validation_sentence(error)}.') from None


async def _get_or_raise(db: AsyncSession, pk: int, *, for_update: bool = False) -> TaskSchedule:
    row = await schedule_dao.get(db, pk, for_update=for_update) if 1 <= pk <= API_ID_MAX else None
    if row is None:
        raise ScheduleNotFound(f'No schedule has id {pk}.')
    return row


def _check_version(row: TaskSchedule, version: int) -> None:
    if row.version != version:
        raise ScheduleConflict(
            f'Schedule {row.id} is at version {row.version}, not {version}: it changed since you read it; '
            'reload it and try again.'
        )


def _with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in the app's time zone and the interval period, as stored."""
    spec = dict(values)
    if 'timezone' in spec or 'kind' in spec:
        spec['timezone'] = spec.get('timezone') or get_settings().TIMEZONE
    if spec.get('kind') == 'interval':
        spec['interval_period'] = spec.get('interval_period') or 'seconds'
    return spec


def _timing(values: Mapping[str, Any]) -> Timing:
    timing = Timing.of(_with_defaults(values))
    timing.validate()
    return timing


def _check_call(app: Celery, values: Mapping[str, Any]) -> None:
    """What a send of the same call must pass (registered task, arguments, queue), plus the stored send options."""
    task = app.tasks.get(values['task'])  # Celery's built-ins (celery.backend_cleanup) count too
    if task is None:
        raise InvalidSchedule(f'No task named {values["task"]!r} is registered; `fba task list` shows the names.')
    check_arguments(task, values['args'], values['kwargs'])
    check_send_fields(app, values)


def _stored(row: TaskSchedule) -> dict[str, Any]:
    return {key: value for key, value in vars(row).items() if not key.startswith('_')}


def _apply(app: Celery, row: TaskSchedule, values: Mapping[str, Any]) -> None:
    """Write `values` to `row`, check them, bump the version and plan the next run from now."""
    values = _with_secrets_kept(app, row, values)
    merged = {'args': [], 'kwargs': {}, **_stored(row), **values}
    _check_call(app, merged)
    timing = _timing(merged)
    for key, value in values.items():
        setattr(row, key, value)
    row.timezone, row.interval_period = timing.timezone, timing.interval_period
    for kind, columns in SPEC_COLUMNS.items():  # a kind's spec goes when the kind changes
        if kind != timing.kind:
            for column in columns:
                setattr(row, column, None)
    _bump(row, timing.first_run(datetime.now(UTC), row.total_run_count or 0) if row.enabled else None)


def _with_secrets_kept(app: Celery, row: TaskSchedule, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """An edit of the same task that sends back the masked arguments it was shown keeps the stored secrets."""
    if row.task is None or values.get('task', row.task) != row.task or not ({'args', 'kwargs'} & values.keys()):
        return values
    names = parameter_names(app.tasks.get(row.task))
    shown = (values.get('args', row.args), values.get('kwargs', row.kwargs))
    args, kwargs = restore_masked(names, shown, (row.args or [], row.kwargs or {}))
    return {
        **values,
        **({'args': args} if 'args' in values else {}),
        **({'kwargs': kwargs} if 'kwargs' in values else {}),
    }


def _bump(row: TaskSchedule, next_run_at: datetime | None) -> None:
    """A write through the service: new version, planned here, and beat's reason for disabling it is gone."""
    row.version = (row.version or 0) + 1
    row.planned_version = row.version
    row.next_run_at = next_run_at
    row.disabled_reason = None


def _detail(app: Celery, row: TaskSchedule) -> GetScheduleDetail:
    """The row as shown: secret-looking arguments masked, positional ones by the parameter names `app` knows."""
    return GetScheduleDetail.model_validate(row, context={'app': app})


async def create(*, db: AsyncSession, app: Celery, obj: CreateScheduleParam) -> GetScheduleDetail:
    row = TaskSchedule(source='api', total_run_count=0)
    _apply(app, row, obj.model_dump())
    return _detail(app, await schedule_dao.save(db, row))


async def get(*, db: AsyncSession, app: Celery, pk: int) -> GetScheduleDetail:
    return _detail(app, await _get_or_raise(db, pk))


async def get_list(
    *,
    db: AsyncSession,
    app: Celery,
    enabled: bool | None = None,
    task: str | None = None,
    kind: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[GetScheduleDetail], int]:
    rows, total = await schedule_dao.get_list(db, enabled=enabled, task=task, kind=kind, limit=limit, offset=offset)
    return [_detail(app, row) for row in rows], total


async def update(*, db: AsyncSession, app: Celery, pk: int, obj: UpdateScheduleParam) -> GetScheduleDetail:
    """Replace every field (PUT); the run history and count stay."""
    row = await _get_or_raise(db, pk, for_update=True)
    _check_version(row, obj.version)
    _apply(app, row, obj.model_dump(exclude={'version'}))
    return _detail(app, await schedule_dao.save(db, row))


async def patch(*, db: AsyncSession, app: Celery, pk: int, obj: PatchScheduleParam) -> GetScheduleDetail:
    """Replace only the fields given."""
    row = await _get_or_raise(db, pk, for_update=True)
    _check_version(row, obj.version)
    _apply(app, row, obj.model_dump(exclude={'version'}, exclude_unset=True))
    return _detail(app, await schedule_dao.save(db, row))


async def enable(*, db: AsyncSession, app: Celery, pk: int) -> GetScheduleDetail:
    """Enable; the next run is planned from now, so missed slots do not fire."""
    row = await _get_or_raise(db, pk, for_update=True)
    _apply(app, row, {'enabled': True})
    return _detail(app, await schedule_dao.save(db, row))


async def disable(*, db: AsyncSession, app: Celery, pk: int) -> GetScheduleDetail:
    """Disable, unchecked: a row beat could not plan can always be switched off."""
    row = await _get_or_raise(db, pk, for_update=True)
    row.enabled = False
    _bump(row, None)
    return _detail(app, await schedule_dao.save(db, row))


async def delete(*, db: AsyncSession, pk: int) -> None:
    await schedule_dao.delete(db, await _get_or_raise(db, pk))


async def run_now(*, db: AsyncSession, app: Celery, pk: int) -> GetScheduleRunDetail:
    """Send the schedule's task once, now, and record the run; the schedule's plan is unchanged."""
    row = await _get_or_raise(db, pk)
    _check_call(app, _stored(row))  # the task, its signature or the queues may have changed since it was written
    now = datetime.now(UTC)
    task_id = slot_task_id(row.id, now)
    run = await schedule_dao.add_run(
        db, TaskScheduleRun(schedule_id=row.id, scheduled_for=now, trigger='manual', task_id=task_id)
    )
    # Publishing blocks on the broker's confirm: keep it off the API's event loop.
    await asyncio.to_thread(publish, app, row.task, row.args, row.kwargs, task_id=task_id, **send_options(row))
    run.dispatched_at = datetime.now(UTC)
    await db.flush()
    return GetScheduleRunDetail.model_validate(run)


async def get_runs(*, db: AsyncSession, pk: int, limit: int, offset: int) -> tuple[list[GetScheduleRunDetail], int]:
    await _get_or_raise(db, pk)
    runs, total = await schedule_dao.get_runs(db, pk, limit=limit, offset=offset)
    return [GetScheduleRunDetail.model_validate(run) for run in runs], total


def preview(*, obj: PreviewScheduleParam) -> list[datetime]:
    """The next `count` fire times of a spec (UTC), without saving anything."""
    timing = _timing(obj.model_dump(exclude={'count', 'after'}))
    if obj.after is not None and obj.after.tzinfo is None:
        raise InvalidSchedule('after needs a UTC offset, e.g. 2030-01-31T09:00:00+01:00.')
    times: list[datetime] = []
    slot = timing.first_run(obj.after or datetime.now(UTC))
    while slot is not None and len(times) < obj.count:
        times.append(slot)
        slot = timing.bounded(timing.slot_after(slot), len(times))
    return times


async def sync_code_schedules(*, db: AsyncSession, app: Celery, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Upsert the schedules defined in code (source `code`) and disable code ones no longer there.

    A row is rewritten only when its definition changed, so a beat restart never moves a plan.
    """
    await schedule_dao.lock_code_sync(db)
    for name, entry in entries.items():
        await _sync_code_schedule(db, app, name, entry)
    for row in await schedule_dao.get_code_defined(db):
        if row.name not in entries and row.enabled:
            row.enabled = False
            _bump(row, None)
            await schedule_dao.save(db, row)


async def _sync_code_schedule(db: AsyncSession, app: Celery, name: str, entry: Mapping[str, Any]) -> None:
    values = _with_defaults(code_entry_to_param(name, entry).model_dump())
    row = await schedule_dao.get_by_name(db, name)
    if row is None:
        row = TaskSchedule(source='code', total_run_count=0)
    elif row.source != 'code':
        raise ScheduleConflict(f'Code schedule {name!r} clashes with a schedule of that name created by the API.')
    elif all(getattr(row, key) == value for key, value in values.items()) and not row.disabled_reason:
        return
    try:
        _apply(app, row, values)
    except TaskError as error:  # the checks a send passes, named for the entry (reading it names it already)
        raise type(error)(f'Code schedule {name!r}: {error.message}') from None
    await schedule_dao.save(db, row)


def code_entry_to_param(name: str, entry: Mapping[str, Any]) -> CreateScheduleParam:
    """Read one entry in Celery's `beat_schedule` shape (see scheduling/beat_entries.py)."""
    try:
        return CreateScheduleParam.model_validate(beat_entries.entry_fields(name, entry))
    except ValidationError as error:
        raise InvalidSchedule(f'Code schedule {name!r}: {validation_sentence(error)}.') from None
