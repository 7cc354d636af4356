"""Beat's start-up work that needs the task code, done by a short-lived child process.

Beat never imports the drop-in task modules: whatever they import would stay in
its memory for its whole life and slow its start. At start it runs this module
(`python -m backend.app.task.beat.startup`) beside its first tick. The
child imports the task modules, upserts the schedules of `tasks/beat.py`
(`LOCAL_BEAT_SCHEDULE`) and of `app.conf.beat_schedule`, and prints the
registered task names as JSON, which beat checks edited rows against. A code
schedule that cannot run makes the child exit 1 with one sentence, and beat
stops with that sentence; so does a database that refuses the statements (not
migrated). PostgreSQL out of reach makes it exit `EX_TEMPFAIL`, and beat runs
it again a little later (beat's own ticks wait for the database meanwhile).
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

from backend.app.task.discovery import TaskModuleError
from backend.app.task.errors import TaskError

logger = logging.getLogger(__name__)
COMMAND = [sys.executable, '-m', __name__]
#: Wait before running the child again after PostgreSQL was out of reach.
RETRY_SECONDS = 2.0


class BeatSetup:
    """The child, seen from beat: started at once, and again while PostgreSQL is out of reach."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._proc = subprocess.Popen(COMMAND, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._out = ''
        self._err = ''
        self._retry_at: float | None = None

    def task_names(self) -> set[str] | None:
        """The registered task names once the child is done, None until then; SystemExit if it failed for good."""
        if self._retry_at is not None:
            if time.monotonic() < self._retry_at:
                return None
            self._start()
        if self._proc.returncode is None:
            try:  # reads both pipes as it goes, so a chatty child never blocks on a full one
                out, err = self._proc.communicate(timeout=0.001)
            except subprocess.TimeoutExpired:
                return None
            self._out, self._err = out, err
        if self._proc.returncode == 0:  # the names are the last line: a task module may print at import
            return set(json.loads(self._out.strip().splitlines()[-1]))
        sentence = (self._err.strip().splitlines() or [f'exit code {self._proc.returncode}'])[-1]
        if self._proc.returncode != os.EX_TEMPFAIL:
            raise SystemExit(sentence)
        logger.warning('beat: %s', sentence, extra={'action': 'beat.setup'})
        self._retry_at = time.monotonic() + RETRY_SECONDS
        return None

    def stop(self) -> None:
        if self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()


async def _sync_code_schedules(app: Any, entries: dict[str, Any]) -> None:
    from backend.app.task.service import schedule_service
    from backend.database.db import async_session, dispose_async_engine

    try:
        async with async_session() as db:
            await schedule_service.sync_code_schedules(db=db, app=app, entries=entries)
    finally:
        await dispose_async_engine()


def main() -> None:
    from sqlalchemy.exc import DBAPIError, OperationalError  # not at the top: beat imports this module

    from backend.app.task.celery import task_app
    from backend.app.task.scheduling.beat_entries import merged_entries
    from backend.app.task.tasks.beat import LOCAL_BEAT_SCHEDULE

    app = task_app()
    try:
        asyncio.run(_sync_code_schedules(app, merged_entries(LOCAL_BEAT_SCHEDULE, app.conf.beat_schedule or {})))
    except TaskError as error:
        raise SystemExit(error.message) from None
    except (OSError, OperationalError) as error:  # out of reach (or timed out): beat waits for it
        print(f'PostgreSQL did not take the code schedules ({_reason(error)}); trying again shortly.', file=sys.stderr)
        raise SystemExit(os.EX_TEMPFAIL) from None
    except DBAPIError as error:  # not created, not migrated: waiting would not help
        raise SystemExit(
            f'PostgreSQL refused the code schedules ({_reason(error)}); is the database migrated (`fba db upgrade`)?'
        ) from None
    print(json.dumps(sorted(app.tasks)))


def _reason(error: Exception) -> str:
    """The first line of the driver's own message (SQLAlchemy's adds the statement and a link)."""
    lines = str(getattr(error, 'orig', None) or error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


if __name__ == '__main__':
    try:
        main()
    except TaskModuleError as error:  # a drop-in module that fails to import: beat stops with its sentence
        raise SystemExit(str(error)) from None
