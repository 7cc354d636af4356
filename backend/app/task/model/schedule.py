"""Schedules beat sends from, and the run rows that make each slot go out once."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class TaskSchedule(Base):
    """One schedule; `next_run_at` (UTC) is NULL when it will never run again.

    `version` moves on every edit (the trigger bumps it for raw SQL edits of the timing);
    `planned_version` is the version `next_run_at` was computed for, so beat re-plans
    exactly the rows where the two differ.
    """

    __tablename__ = 'task_schedule'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(155))
    kind: Mapped[str] = mapped_column(String(16))
    interval_every: Mapped[int | None] = mapped_column(Integer)
    interval_period: Mapped[str | None] = mapped_column(String(16))
    crontab: Mapped[str | None] = mapped_column(String(255))
    clocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(String(64))
    args: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    queue: Mapped[str | None] = mapped_column(String(155))
    routing_key: Mapped[str | None] = mapped_column(String(155))
    priority: Mapped[int | None] = mapped_column(Integer)
    expire_seconds: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text('true'))
    #: Why beat disabled the row (it could not be planned or sent); cleared by the next write through the service.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_runs: Mapped[int | None] = mapped_column(Integer)
    one_off: Mapped[bool] = mapped_column(Boolean, server_default=text('false'))
    total_run_count: Mapped[int] = mapped_column(Integer, server_default=text('0'))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    misfire_policy: Mapped[str] = mapped_column(String(16), server_default=text("'coalesce'"))
    misfire_grace_seconds: Mapped[int] = mapped_column(Integer, server_default=text('60'))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8), server_default=text("'api'"))
    version: Mapped[int] = mapped_column(Integer, server_default=text('1'))
    planned_version: Mapped[int] = mapped_column(Integer, server_default=text('0'))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint('name', name='uq_task_schedule_name'),
        Index('ix_task_schedule_next_run_at', 'next_run_at'),
        Index('ix_task_schedule_moved', 'id', postgresql_where=text('version <> planned_version')),
        CheckConstraint("kind IN ('interval', 'crontab', 'clocked')", name='kind'),
        CheckConstraint("misfire_policy IN ('skip', 'coalesce', 'catch_up')", name='misfire_policy'),
        CheckConstraint("source IN ('api', 'code')", name='source'),
    )


class TaskScheduleRun(Base):
    """One slot of a schedule: claimed by beat (unique per slot), then marked dispatched once published.

    Beat deletes sent runs older than TASK_BEAT_RUN_RETENTION_DAYS, so the history does not grow without end.
    """

    __tablename__ = 'task_schedule_run'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey('task_schedule.id', ondelete='CASCADE'))
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trigger: Mapped[str] = mapped_column(String(8), server_default=text("'beat'"))
    task_id: Mapped[str] = mapped_column(String(155))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint('schedule_id', 'scheduled_for', name='uq_task_schedule_run_schedule_id_scheduled_for'),
        Index('ix_task_schedule_run_dispatched_at', 'dispatched_at'),
        Index('ix_task_schedule_run_undispatched', 'claimed_at', postgresql_where=text('dispatched_at IS NULL')),
        CheckConstraint("trigger IN ('beat', 'manual')", name='trigger'),
    )
