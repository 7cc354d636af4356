"""Rendered e-mails of the `email` example drop-in, kept instead of sent over a network."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class EmailOutbox(Base):
    __tablename__ = 'task_email_outbox'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(155))
    created_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
