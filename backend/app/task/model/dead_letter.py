"""Tasks that failed for good, kept with everything needed to inspect and requeue them."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base

#: How a task got here: its retries ran out, it raised an exception that never retries, it hit its hard
#: time limit, its worker process died on every attempt (or its message was delivered too often), the worker
#: refused its message (no such task, or a body it cannot decode), or a value in it or in its result cannot be
#: stored (NaN, NUL, a lone surrogate, …).
DEAD_LETTER_REASONS = (
    'retries_exhausted',
    'non_retryable',
    'time_limit',
    'worker_lost',
    'unknown_task',
    'undecodable',
    'unstorable',
)


class TaskDeadLetter(Base):
    """One row per failed task id; a second failure of the same id updates `last_failed_at` and `failures`."""

    __tablename__ = 'task_dead_letter'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_id: Mapped[str | None] = mapped_column(String(155), unique=True)
    task_name: Mapped[str | None] = mapped_column(String(155))
    args: Mapped[Any | None] = mapped_column(JSONB)
    kwargs: Mapped[Any | None] = mapped_column(JSONB)
    queue: Mapped[str | None] = mapped_column(String(155))
    reason: Mapped[str] = mapped_column(String(32))
    exception_type: Mapped[str | None] = mapped_column(String(255))
    exception_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    retries: Mapped[int] = mapped_column(Integer, server_default='0')
    failures: Mapped[int] = mapped_column(Integer, server_default='1')
    worker: Mapped[str | None] = mapped_column(String(155))
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    requeued_task_id: Mapped[str | None] = mapped_column(String(155))
    requeued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f'reason IN {DEAD_LETTER_REASONS!r}', name='reason'),
        Index('ix_task_dead_letter_last_failed_at', 'last_failed_at'),
        Index('ix_task_dead_letter_task_name', 'task_name'),
    )
