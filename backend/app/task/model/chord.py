"""Chord counters: how many header tasks of a chord have finished, so the body is sent exactly once."""

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class TaskChord(Base):
    """One row per running chord; `size` is NULL until the last header message is about to be sent."""

    __tablename__ = 'task_chord'

    group_id: Mapped[str] = mapped_column(String(155), primary_key=True)
    size: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, server_default=text('0'))
    date_created: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index('ix_task_chord_date_created', 'date_created'),)
