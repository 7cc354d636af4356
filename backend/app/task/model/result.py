"""Task and group results written by the PostgreSQL result backend."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Double, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class TaskResult(Base):
    """One row per task id; `result` holds the kombu-JSON encoded value or exception."""

    __tablename__ = 'task_result'

    task_id: Mapped[str] = mapped_column(String(155), primary_key=True)
    status: Mapped[str] = mapped_column(String(50))
    result: Mapped[Any | None] = mapped_column(JSONB)
    traceback: Mapped[str | None] = mapped_column(Text)
    children: Mapped[Any | None] = mapped_column(JSONB)
    name: Mapped[str | None] = mapped_column(String(155))
    args: Mapped[Any | None] = mapped_column(JSONB)
    kwargs: Mapped[Any | None] = mapped_column(JSONB)
    worker: Mapped[str | None] = mapped_column(String(155))
    retries: Mapped[int | None] = mapped_column(Integer)
    queue: Mapped[str | None] = mapped_column(String(155))
    date_started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    date_done: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runtime: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index('ix_task_result_date_done', 'date_done'),
        Index('ix_task_result_status_date_done', 'status', 'date_done'),
    )


class TaskGroupResult(Base):
    """A saved `GroupResult`: its member ids, as Celery's `as_tuple()` gives them."""

    __tablename__ = 'task_group_result'

    group_id: Mapped[str] = mapped_column(String(155), primary_key=True)
    result: Mapped[Any] = mapped_column(JSONB)
    date_done: Mapped[datetime] = mapped_column(DateTime(timezone=True))
