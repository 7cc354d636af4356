"""Tables written by the `db_log` example drop-in."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class OperaLog(Base):
    """An HTTP operation a back end asked to record in the background."""

    __tablename__ = 'task_opera_log'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(512))
    status_code: Mapped[int] = mapped_column(Integer)
    cost_ms: Mapped[float] = mapped_column()
    created_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginLog(Base):
    """A login attempt recorded in the background."""

    __tablename__ = 'task_login_log'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column()
    message: Mapped[str | None] = mapped_column(String(255))
    login_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
