"""The schedule service on the real PostgreSQL: validation, optimistic edits, enable/disable, runs, triggers."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from celery.schedules import crontab
from celery.schedules import schedule as celery_schedule
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.errors import InvalidSchedule, ScheduleConflict, ScheduleNotFound
from backend.app.task.schema.schedule import (
    CreateScheduleParam,
    PatchScheduleParam,
    PreviewScheduleParam,
    UpdateScheduleParam,
)
from backend.app.task.service import schedule_service
from tests.support.beat import QueueProbe
from tests.support.wait import wait_for


@pytest.fixture
def no_schedules(pg: psycopg.Connection) -> Iterator[None]:
    pg.execute('DELETE FROM task_schedule')
    yield
    pg.execute('DELETE FROM task_schedule')


def params(**overrides: Any) -> CreateScheduleParam:
    values: dict[str, Any] = {
        'name': 'ping-every-minute',
        'task': 'task.ping',
        'kind': 'interval',
        'interval_every': 60,
    }
    return CreateScheduleParam(**{**values, **overrides})


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'task': 'no.such_task'}, "No task named 'no.such_task' is registered"),
        ({'kind': 'crontab', 'crontab': '0 25 * * *'}, "Crontab hour field '25'"),
        (
            {'kind': 'crontab', 'crontab': '0 3 * * *', 'timezone': 'Europe/Atlantis'},
            "'Europe/Atlantis' is not an IANA",
        ),
        ({'interval_every': -10}, 'An interval must be a positive whole number, not -10'),
        (
            {'start_at': datetime(2030, 1, 2, tzinfo=UTC), 'end_at': datetime(2030, 1, 1, tzinfo=UTC)},
            'end_at (2030-01-01T00:00:00+00:00) must be after start_at',
        ),
        ({'kind': 'clocked'}, 'A clocked schedule needs one instant'),
    ],
)
async def test_create_refuses_a_schedule_that_cannot_run(
    db: AsyncSession, overrides: dict, message: str, celery_app: Any
) -> None:
    with pytest.raises(InvalidSchedule) as error:
        await schedule_service.create(db=db, app=celery_app, obj=params(**overrides))
    assert message in error.value.message


async def test_create_computes_next_run_in_the_schedule_zone(db: AsyncSession, celery_app: Any) -> None:
    obj = params(kind='crontab', crontab='30 9 * * *', timezone='Asia/Tokyo', interval_every=None)
    detail = await schedule_service.create(db=db, app=celery_app, obj=obj)
    assert detail.next_run_at is not None
    local = detail.next_run_at.astimezone(ZoneInfo('Asia/Tokyo'))
    assert (local.hour, local.minute) == (9, 30)
    assert (detail.version, detail.source, detail.enabled) == (1, 'api', True)


async def test_create_refuses_a_taken_name(db: AsyncSession, celery_app: Any) -> None:
    await schedule_service.create(db=db, app=celery_app, obj=params())
    with pytest.raises(ScheduleConflict, match="A schedule named 'ping-every-minute' already exists"):
        await schedule_service.create(db=db, app=celery_app, obj=params())


async def test_update_with_a_stale_version_is_a_conflict(db: AsyncSession, celery_app: Any) -> None:
    # Given a schedule edited once (version 2)
    created = await schedule_service.create(db=db, app=celery_app, obj=params())
    full = params(interval_every=30).model_dump()
    edited = await schedule_service.update(
        db=db, app=celery_app, pk=created.id, obj=UpdateScheduleParam(**full, version=1)
    )
    assert (edited.version, edited.interval_every) == (2, 30)
    # When someone writes with the version they read before that edit
    with pytest.raises(ScheduleConflict, match='is at version 2, not 1'):
        await schedule_service.update(db=db, app=celery_app, pk=created.id, obj=UpdateScheduleParam(**full, version=1))


async def test_patch_changes_only_the_fields_given(db: AsyncSession, celery_app: Any) -> None:
    created = await schedule_service.create(
        db=db, app=celery_app, obj=params(task='task.add', args=[1, 2], queue='critical')
    )
    patched = await schedule_service.patch(
        db=db,
        app=celery_app,
        pk=created.id,
        obj=PatchScheduleParam(version=created.version, kind='crontab', crontab='0 4 * * *'),
    )
    assert (patched.kind, patched.crontab, patched.args, patched.queue) == ('crontab', '0 4 * * *', [1, 2], 'critical')
    assert (patched.interval_every, patched.interval_period) == (None, None)
    assert patched.next_run_at is not None and patched.next_run_at.minute == 0


async def test_get_of_a_missing_schedule_raises_not_found(db: AsyncSession, celery_app: Any) -> None:
    with pytest.raises(ScheduleNotFound, match='No schedule has id 987654'):
        await schedule_service.get(db=db, app=celery_app, pk=987654)


async def test_disable_clears_next_run_and_enable_plans_from_now(db: AsyncSession, celery_app: Any) -> None:
    created = await schedule_service.create(
        db=db, app=celery_app, obj=params(start_at=datetime.now(UTC) - timedelta(hours=5))
    )
    disabled = await schedule_service.disable(db=db, app=celery_app, pk=created.id)
    assert (disabled.enabled, disabled.next_run_at) == (False, None)
    enabled = await schedule_service.enable(db=db, app=celery_app, pk=created.id)
    assert enabled.enabled and enabled.next_run_at is not None
    assert enabled.next_run_at > datetime.now(UTC)  # no surprise run for the slots missed while disabled


async def test_get_list_filters_and_counts(db: AsyncSession, no_schedules: None, celery_app: Any) -> None:
    for n in range(3):
        await schedule_service.create(db=db, app=celery_app, obj=params(name=f's{n}', enabled=n != 1))
    await schedule_service.create(db=db, app=celery_app, obj=params(name='adder', task='task.add', args=[1, 2]))
    items, total = await schedule_service.get_list(db=db, app=celery_app, enabled=True, limit=2, offset=0)
    assert total == 3 and len(items) == 2
    items, total = await schedule_service.get_list(db=db, app=celery_app, task='task.add', limit=10, offset=0)
    assert [i.name for i in items] == ['adder'] and total == 1


async def test_delete_removes_the_schedule(db: AsyncSession, celery_app: Any) -> None:
    created = await schedule_service.create(db=db, app=celery_app, obj=params())
    await schedule_service.delete(db=db, pk=created.id)
    with pytest.raises(ScheduleNotFound):
        await schedule_service.get(db=db, app=celery_app, pk=created.id)


def test_preview_lists_fire_times_without_saving() -> None:
    obj = PreviewScheduleParam(
        kind='crontab', crontab='30 2 * * *', timezone='Europe/Berlin', after=datetime(2024, 3, 30, tzinfo=UTC), count=2
    )
    assert schedule_service.preview(obj=obj) == [
        datetime(2024, 3, 30, 1, 30, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # 02:30 does not exist that day: 03:00 CEST
    ]


def test_preview_refuses_a_bad_spec() -> None:
    with pytest.raises(InvalidSchedule, match='not an IANA zone'):
        schedule_service.preview(obj=PreviewScheduleParam(kind='crontab', crontab='* * * * *', timezone='X/Y'))


async def test_sync_code_schedules_upserts_and_disables_removed_ones(
    db: AsyncSession, no_schedules: None, celery_app: Any
) -> None:
    # Given two schedules defined in code
    entries: dict[str, dict[str, Any]] = {
        'cleanup': {'task': 'celery.backend_cleanup', 'schedule': '0 4 * * *'},
        'pinger': {'task': 'task.ping', 'schedule': 30, 'options': {'queue': 'bulk', 'expires': 10}},
    }
    await schedule_service.sync_code_schedules(db=db, app=celery_app, entries=entries)
    first, _ = await schedule_service.get_list(db=db, app=celery_app, limit=10, offset=0)
    # When beat starts again with the same code, and then with `pinger` removed
    await schedule_service.sync_code_schedules(db=db, app=celery_app, entries=entries)
    again, _ = await schedule_service.get_list(db=db, app=celery_app, limit=10, offset=0)
    await schedule_service.sync_code_schedules(db=db, app=celery_app, entries={'cleanup': entries['cleanup']})
    last, _ = await schedule_service.get_list(db=db, app=celery_app, limit=10, offset=0)
    # Then the rows are written once (same versions and plans on restart) and the removed one is disabled
    assert [(s.name, s.source, s.version) for s in first] == [('cleanup', 'code', 1), ('pinger', 'code', 1)]
    assert [(s.version, s.next_run_at) for s in again] == [(s.version, s.next_run_at) for s in first]
    assert (first[1].queue, first[1].expire_seconds, first[1].interval_every) == ('bulk', 10, 30)
    assert [(s.name, s.enabled) for s in last] == [('cleanup', True), ('pinger', False)]


async def test_sync_code_schedules_stores_celerys_schedule_shapes(
    db: AsyncSession, pg: psycopg.Connection, no_schedules: None, celery_app: Any
) -> None:
    # Given entries as Celery users write them: crontab and schedule objects, a timedelta, float seconds
    entries: dict[str, dict[str, Any]] = {
        'nightly': {'task': 'task.ping', 'schedule': crontab(hour=0, minute=0)},
        'weekdays': {'task': 'task.ping', 'schedule': crontab(minute='*/30', hour='8-18', day_of_week='mon-fri')},
        'every_5_minutes': {'task': 'task.add', 'schedule': 300.0, 'args': (1, 2)},
        'hourly': {'task': 'task.ping', 'schedule': timedelta(hours=1), 'options': {'queue': 'bulk'}},
        'objects': {'task': 'task.ping', 'schedule': celery_schedule(run_every=90), 'options': {'expires': 30.0}},
    }
    # When they are synced
    await schedule_service.sync_code_schedules(db=db, app=celery_app, entries=entries)
    await db.commit()
    # Then each row holds the same timing, and is planned
    rows = pg.execute(
        'SELECT name, kind, crontab, interval_every, args, queue, expire_seconds, next_run_at IS NOT NULL '
        'FROM task_schedule ORDER BY name'
    ).fetchall()
    assert rows == [
        ('every_5_minutes', 'interval', None, 300, [1, 2], None, None, True),
        ('hourly', 'interval', None, 3600, [], 'bulk', None, True),
        ('nightly', 'crontab', '0 0 * * *', None, [], None, None, True),
        ('objects', 'interval', None, 90, [], None, 30, True),
        ('weekdays', 'crontab', '0,30 8-18 * * 1-5', None, [], None, None, True),
    ]


async def test_sync_code_schedules_refuses_a_schedule_that_cannot_run(db: AsyncSession, celery_app: Any) -> None:
    with pytest.raises(InvalidSchedule, match="No task named 'nope' is registered"):
        await schedule_service.sync_code_schedules(
            db=db, app=celery_app, entries={'x': {'task': 'nope', 'schedule': 5}}
        )


def test_raw_sql_edit_of_the_timing_bumps_the_version_and_notifies(pg: psycopg.Connection, no_schedules: None) -> None:
    # Given a planned schedule, and a connection listening on the change channel
    row = pg.execute(
        'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, version, '
        "planned_version) VALUES ('raw', 'task.ping', 'interval', 5, 'seconds', 'UTC', 1, 1) RETURNING id"
    ).fetchone()
    assert row is not None
    with psycopg.connect(pg.info.dsn, autocommit=True) as listener:
        listener.execute('LISTEN fba_task_schedule_v1')
        # When a timing column is edited in SQL, bypassing the service
        pg.execute('UPDATE task_schedule SET interval_every = 9 WHERE id = %s', (row[0],))
        notes = list(listener.notifies(timeout=10, stop_after=1))
    # Then the version moved (beat re-plans such rows) and every beat was woken
    assert pg.execute('SELECT version, planned_version FROM task_schedule WHERE id = %s', (row[0],)).fetchone() == (
        2,
        1,
    )
    assert [n.payload for n in notes] == [f'{{"type" : "update", "id" : {row[0]}}}']


@pytest.mark.broker
async def test_run_now_sends_once_and_records_the_run(
    db: AsyncSession, celery_app: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    probe = QueueProbe(celery_app, private_queue)
    try:
        created = await schedule_service.create(db=db, app=celery_app, obj=params(queue=private_queue, args=[]))
        run = await schedule_service.run_now(db=db, app=celery_app, pk=created.id)
        assert run.trigger == 'manual' and run.dispatched_at is not None
        wait_for(lambda: probe.ids() == [run.task_id], timeout=30, what='the run-now message')
        runs, total = await schedule_service.get_runs(db=db, pk=created.id, limit=10, offset=0)
        assert ([r.task_id for r in runs], total) == ([run.task_id], 1)
    finally:
        probe.close()


async def test_create_refuses_times_without_an_offset(db: AsyncSession, celery_app: Any) -> None:
    with pytest.raises(InvalidSchedule, match='start_at needs a UTC offset'):
        await schedule_service.create(db=db, app=celery_app, obj=params(start_at=datetime(2030, 1, 1)))
    with pytest.raises(InvalidSchedule, match='after needs a UTC offset'):
        schedule_service.preview(
            obj=PreviewScheduleParam(kind='interval', interval_every=5, after=datetime(2030, 1, 1))
        )
