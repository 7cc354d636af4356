"""Example drop-in: records operations and logins through the async engine, off the request path."""

from backend.app.task.tasks.base import task
from backend.app.task.tasks.db_log.model import LoginLog, OperaLog
from backend.database.db import async_session


@task(name='db_log.log_operation')
async def log_operation(method: str, path: str, status_code: int, cost_ms: float, username: str | None = None) -> int:
    """Stores one operation log row and returns its id."""
    async with async_session() as session:
        row = OperaLog(username=username, method=method, path=path, status_code=status_code, cost_ms=cost_ms)
        session.add(row)
        await session.flush()
        return row.id


@task(name='db_log.log_login')
async def log_login(username: str, succeeded: bool, ip: str | None = None, message: str | None = None) -> int:
    """Stores one login attempt and returns its id."""
    async with async_session() as session:
        row = LoginLog(username=username, ip=ip, succeeded=succeeded, message=message)
        session.add(row)
        await session.flush()
        return row.id
