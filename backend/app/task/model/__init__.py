"""The core tables; a feature's own tables live in its folder (`tasks/<feature>/model.py`), found by migrations."""

from backend.app.task.model.base import Base
from backend.app.task.model.chord import TaskChord, TaskChordPart
from backend.app.task.model.dead_letter import TaskDeadLetter
from backend.app.task.model.delivery import TaskDelivery
from backend.app.task.model.result import TaskGroupResult, TaskResult
from backend.app.task.model.schedule import TaskSchedule, TaskScheduleRun

__all__ = [
    'Base',
    'TaskChord',
    'TaskChordPart',
    'TaskDeadLetter',
    'TaskDelivery',
    'TaskGroupResult',
    'TaskResult',
    'TaskSchedule',
    'TaskScheduleRun',
]
