"""All tables, imported here so Alembic's autogenerate sees every one."""

from backend.app.task.model.base import Base
from backend.app.task.model.chord import TaskChord, TaskChordPart
from backend.app.task.model.dead_letter import TaskDeadLetter
from backend.app.task.model.email_outbox import EmailOutbox
from backend.app.task.model.feature_log import LoginLog, OperaLog
from backend.app.task.model.result import TaskGroupResult, TaskResult
from backend.app.task.model.schedule import TaskSchedule, TaskScheduleRun

__all__ = [
    'Base',
    'EmailOutbox',
    'LoginLog',
    'OperaLog',
    'TaskChord',
    'TaskChordPart',
    'TaskDeadLetter',
    'TaskGroupResult',
    'TaskResult',
    'TaskSchedule',
    'TaskScheduleRun',
]
