"""Reads behind the console's overview: outcomes per minute, and the task state of schedule runs."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.model.result import TaskResult
from backend.app.task.model.schedule import TaskScheduleRun


async def outcomes_per_minute(
    db: AsyncSession, *, since: datetime, statuses: Sequence[str]
) -> list[tuple[datetime, str, int]]:
    """(minute, status, runs) for results finished since `since` (served by ix_task_result_status_date_done)."""
    minute = func.date_trunc('minute', TaskResult.date_done)
    statement = (
        select(minute, TaskResult.status, func.count())
        .where(TaskResult.status.in_(statuses), TaskResult.date_done >= since)
        .group_by(minute, TaskResult.status)
    )
    return [(row[0], row[1], int(row[2])) for row in (await db.execute(statement)).all()]


async def states_of(db: AsyncSession, task_ids: Sequence[str]) -> dict[str, str]:
    """Stored state per task id; ids with no result row yet are left out."""
    if not task_ids:
        return {}
    rows = await db.execute(select(TaskResult.task_id, TaskResult.status).where(TaskResult.task_id.in_(task_ids)))
    return {task_id: status for task_id, status in rows.all()}


async def latest_runs(db: AsyncSession, schedule_ids: Sequence[int]) -> dict[int, TaskScheduleRun]:
    """The newest run of each schedule given (one row per schedule, by DISTINCT ON)."""
    if not schedule_ids:
        return {}
    statement = (
        select(TaskScheduleRun)
        .where(TaskScheduleRun.schedule_id.in_(schedule_ids))
        .order_by(TaskScheduleRun.schedule_id, TaskScheduleRun.scheduled_for.desc())
        .ext(distinct_on(TaskScheduleRun.schedule_id))
    )
    return {run.schedule_id: run for run in (await db.scalars(statement)).all()}
