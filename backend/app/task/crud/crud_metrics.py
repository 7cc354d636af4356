"""Counts behind the API's Prometheus `/metrics`: dead letters, enabled schedules and beat's dispatch lag."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.model.dead_letter import TaskDeadLetter
from backend.app.task.model.schedule import TaskSchedule, TaskScheduleRun

#: Seconds from the slot a run was due (scheduled_for) to the moment beat published it.
_LAG = func.extract('epoch', TaskScheduleRun.dispatched_at - TaskScheduleRun.scheduled_for)


async def count_dead_letters(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(TaskDeadLetter)) or 0)


async def count_enabled_schedules(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(TaskSchedule).where(TaskSchedule.enabled)) or 0)


async def count_undispatched_runs(db: AsyncSession) -> int:
    statement = select(func.count()).select_from(TaskScheduleRun).where(TaskScheduleRun.dispatched_at.is_(None))
    return int(await db.scalar(statement) or 0)


async def beat_dispatch_lag(db: AsyncSession, *, since: datetime) -> tuple[float | None, float | None]:
    """The lag of beat's latest dispatch, and the largest one since `since` (None when there was none)."""
    beat_runs = (TaskScheduleRun.trigger == 'beat', TaskScheduleRun.dispatched_at.is_not(None))
    last = await db.scalar(select(_LAG).where(*beat_runs).order_by(TaskScheduleRun.dispatched_at.desc()).limit(1))
    largest = await db.scalar(select(func.max(_LAG)).where(*beat_runs, TaskScheduleRun.dispatched_at >= since))
    return (None if last is None else float(last)), (None if largest is None else float(largest))
