"""Reading task results for monitoring, through the ORM (the hot write path is `crud_result`'s named queries)."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.model.result import TaskResult


async def list_runs(
    db: AsyncSession, *, where: Sequence[ColumnElement[bool]], order_by: ColumnElement, limit: int, offset: int
) -> tuple[Sequence[TaskResult], int]:
    """A page of result rows matching `where`, and how many match in all."""
    query = select(TaskResult).where(*where)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = await db.scalars(query.order_by(order_by, TaskResult.task_id).limit(limit).offset(offset))
    return rows.all(), total or 0
