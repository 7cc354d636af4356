"""Schedule rows: plain CRUD on the models for the service, named queries for beat's claim transaction."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.crud.sql import query
from backend.app.task.errors import ScheduleConflict
from backend.app.task.model.schedule import TaskSchedule, TaskScheduleRun


class CRUDSchedule:
    """ORM access for the service; it never commits."""

    async def get(self, db: AsyncSession, pk: int, *, for_update: bool = False) -> TaskSchedule | None:
        statement = select(TaskSchedule).where(TaskSchedule.id == pk)
        if for_update:
            statement = statement.with_for_update()
        return (await db.execute(statement)).scalar_one_or_none()

    async def get_by_name(self, db: AsyncSession, name: str) -> TaskSchedule | None:
        return (await db.execute(select(TaskSchedule).where(TaskSchedule.name == name))).scalar_one_or_none()

    async def get_list(
        self, db: AsyncSession, *, enabled: bool | None, task: str | None, limit: int, offset: int
    ) -> tuple[Sequence[TaskSchedule], int]:
        conditions: list[ColumnElement[bool]] = []
        if enabled is not None:
            conditions.append(TaskSchedule.enabled.is_(enabled))
        if task is not None:
            conditions.append(TaskSchedule.task == task)
        total = (await db.execute(select(func.count()).select_from(TaskSchedule).where(*conditions))).scalar_one()
        rows = await db.execute(
            select(TaskSchedule).where(*conditions).order_by(TaskSchedule.id).limit(limit).offset(offset)
        )
        return rows.scalars().all(), total

    async def lock_code_sync(self, db: AsyncSession) -> None:
        """Serialise code syncs of beats starting together, until the transaction ends."""
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtext('fba_task_schedule_code_sync'))))

    async def get_code_defined(self, db: AsyncSession) -> Sequence[TaskSchedule]:
        return (await db.execute(select(TaskSchedule).where(TaskSchedule.source == 'code'))).scalars().all()

    async def save(self, db: AsyncSession, row: TaskSchedule) -> TaskSchedule:
        """Insert or update `row`; a taken name becomes `ScheduleConflict`."""
        db.add(row)
        try:
            await db.flush()
        except IntegrityError as error:
            if 'uq_task_schedule_name' in str(error.orig):
                raise ScheduleConflict(f'A schedule named {row.name!r} already exists.') from None
            raise
        await db.refresh(row)
        return row

    async def delete(self, db: AsyncSession, row: TaskSchedule) -> None:
        await db.delete(row)
        await db.flush()

    async def add_run(self, db: AsyncSession, run: TaskScheduleRun) -> TaskScheduleRun:
        db.add(run)
        await db.flush()
        await db.refresh(run)
        return run

    async def get_runs(
        self, db: AsyncSession, schedule_id: int, *, limit: int, offset: int
    ) -> tuple[Sequence[TaskScheduleRun], int]:
        condition = TaskScheduleRun.schedule_id == schedule_id
        total = (await db.execute(select(func.count()).select_from(TaskScheduleRun).where(condition))).scalar_one()
        rows = await db.execute(
            select(TaskScheduleRun)
            .where(condition)
            .order_by(TaskScheduleRun.scheduled_for.desc())
            .limit(limit)
            .offset(offset)
        )
        return rows.scalars().all(), total


schedule_dao = CRUDSchedule()


# Beat: raw psycopg on its own connection, in transactions it opens and commits itself.


def mark_beat_transaction(conn: Connection) -> None:
    conn.execute(query('mark_beat_transaction'))


def claim_due_schedules(conn: Connection, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_due_schedules'), {'batch': batch}).fetchall()


def insert_schedule_runs(
    conn: Connection, schedule_ids: list[int], scheduled_for: list[datetime], task_ids: list[str]
) -> list[dict[str, Any]]:
    """The runs actually inserted (a slot already recorded is left out)."""
    params = {'schedule_ids': schedule_ids, 'scheduled_for': scheduled_for, 'task_ids': task_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('insert_schedule_runs'), params).fetchall()


def advance_schedules(
    conn: Connection, ids: list[int], next_run_at: list[datetime | None], runs: list[int], enabled: list[bool]
) -> None:
    params = {'ids': ids, 'next_run_at': next_run_at, 'runs': runs, 'enabled': enabled}
    conn.execute(query('advance_schedules'), params)


def claim_moved_schedules(conn: Connection, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_moved_schedules'), {'batch': batch}).fetchall()


def replan_schedules(conn: Connection, ids: list[int], versions: list[int], next_run_at: list[datetime | None]) -> None:
    conn.execute(query('replan_schedules'), {'ids': ids, 'versions': versions, 'next_run_at': next_run_at})


def claim_undispatched_runs(conn: Connection, older_than: float, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_undispatched_runs'), {'older_than': older_than, 'batch': batch}).fetchall()


def mark_runs_dispatched(conn: Connection, ids: list[int]) -> None:
    conn.execute(query('mark_runs_dispatched'), {'ids': ids})


def purge_schedule_runs(conn: Connection, days: int, batch: int) -> int:
    return conn.execute(query('purge_schedule_runs'), {'days': days, 'batch': batch}).rowcount


def next_due_at(conn: Connection) -> datetime | None:
    row = conn.execute(query('next_due_at')).fetchone()
    return row[0] if row else None
