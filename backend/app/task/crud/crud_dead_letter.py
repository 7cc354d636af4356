"""Dead letters: the insert is a named query on a raw connection (workers write it in failure paths, so it
must not depend on an ORM session); reads, requeue links and purges use the ORM on the caller's session."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.crud.sql import query
from backend.app.task.model.dead_letter import TaskDeadLetter


def insert_dead_letter(conn: Connection, params: dict[str, Any]) -> int:
    row = conn.execute(query('insert_dead_letter'), params).fetchone()
    assert row is not None
    return int(row[0])


async def get(db: AsyncSession, pk: int) -> TaskDeadLetter | None:
    return await db.get(TaskDeadLetter, pk)


async def list_rows(
    db: AsyncSession, *, where: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[Sequence[TaskDeadLetter], int]:
    """A page of rows matching `where`, newest failure first, and how many match in all."""
    total = await db.scalar(select(func.count()).select_from(TaskDeadLetter).where(*where))
    rows = await db.scalars(
        select(TaskDeadLetter)
        .where(*where)
        .order_by(TaskDeadLetter.last_failed_at.desc(), TaskDeadLetter.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def mark_requeued(db: AsyncSession, row: TaskDeadLetter, task_id: str, at: datetime) -> None:
    row.requeued_task_id = task_id
    row.requeued_at = at
    await db.flush()


async def delete_rows(db: AsyncSession, *, where: Sequence[ColumnElement[bool]]) -> int:
    result = await db.execute(delete(TaskDeadLetter).where(*where).returning(TaskDeadLetter.id))
    return len(result.all())
