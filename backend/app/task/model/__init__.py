"""All tables, imported here so Alembic's autogenerate sees every one."""

from backend.app.task.model.base import Base
from backend.app.task.model.email_outbox import EmailOutbox
from backend.app.task.model.feature_log import LoginLog, OperaLog
from backend.app.task.model.result import TaskGroupResult, TaskResult

__all__ = ['Base', 'EmailOutbox', 'LoginLog', 'OperaLog', 'TaskGroupResult', 'TaskResult']
