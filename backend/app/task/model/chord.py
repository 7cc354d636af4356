"""Chord counters: which header tasks of a chord have finished, so each counts once and the body goes out once."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class TaskChord(Base):
    """One row per running chord; `size` is NULL until the last header message is about to be sent."""

    __tablename__ = 'task_chord'

    group_id: Mapped[str] = mapped_column(String(155), primary_key=True)
    size: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, server_default=text('0'))
    #: The header task whose count reached `size`: it (or its redelivered copy) sends the body.
    completed_by: Mapped[str | None] = mapped_column(String(155))
    #: Set once the body was published (or failed with the chord), so no copy sends it again.
    body_sent: Mapped[bool] = mapped_column(Boolean, server_default=false())
    date_created: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index('ix_task_chord_date_created', 'date_created'),)


class TaskChordPart(Base):
    """One row per header task counted: a redelivered copy of a counted task finds its row and adds nothing."""

    __tablename__ = 'task_chord_part'

    group_id: Mapped[str] = mapped_column(
        String(155), ForeignKey('task_chord.group_id', ondelete='CASCADE'), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(155), primary_key=True)
