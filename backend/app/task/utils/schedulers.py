"""The documented path of beat's scheduler: `beat_scheduler = 'backend.app.task.utils.schedulers:DatabaseScheduler'`.

`celery beat -S …` and a `beat_scheduler` setting name this path, so it stays;
the scheduler itself lives in `backend/app/task/beat/scheduler.py`. Importing
this module costs beat nothing more than importing that one.
"""

from backend.app.task.beat.scheduler import DatabaseScheduler

__all__ = ['DatabaseScheduler']
