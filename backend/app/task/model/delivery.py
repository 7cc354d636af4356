"""Deliveries of redelivered task messages, counted so a message that kills its worker every time ends."""

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base

#: The longest task id counted (Celery's own result tables allow the same).
TASK_ID_LENGTH = 155


class TaskDelivery(Base):
    """One row per task id that was delivered again (only redelivered messages are counted, so most tasks have none)."""

    __tablename__ = 'task_delivery'

    task_id: Mapped[str] = mapped_column(String(TASK_ID_LENGTH), primary_key=True)
    deliveries: Mapped[int] = mapped_column(Integer)
    date_created: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index('ix_task_delivery_date_created', 'date_created'),)
