"""Schedule rows: plain CRUD on the models for the service (beat's own queries are in `crud_beat`)."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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
        self,
        db: AsyncSession,
        *,
        enabled: bool | None,
        task: str | None,
        kind: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[TaskSchedule], int]:
        conditions: list[ColumnElement[bool]] = []
        if enabled is not None:
            conditions.append(TaskSchedule.enabled.is_(enabled))
        if task is not None:
            conditions.append(TaskSchedule.task == task)
        if kind is not None:
            conditions.append(TaskSchedule.kind == kind)
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
