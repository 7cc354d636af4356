"""Beat stops with the sentence of a failed start-up child. Publishes nothing, so it runs once, not per broker."""

import sys
from typing import Any

import pytest

from backend.app.task.beat import startup as beat_setup
from backend.app.task.beat.scheduler import DatabaseScheduler
from tests.support.wait import wait_for


def test_beat_stops_with_the_sentence_of_a_failed_setup(celery_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a start-up child that fails the way beat_setup.main() does
    sentence = 'Code schedules of backend/app/task/tasks/beat.py: no task named nope is registered.'
    monkeypatch.setattr(beat_setup, 'COMMAND', [sys.executable, '-c', f'raise SystemExit({sentence!r})'])
    scheduler = DatabaseScheduler(app=celery_app, max_interval=0.05)
    # When beat ticks (tick() returns 0.0) until the child is done, then Celery's loop closes it
    with pytest.raises(SystemExit):
        wait_for(lambda: bool(scheduler.tick()), timeout=60, what='the setup child to fail')
    # Then closing raises the child's sentence again, which becomes beat's exit status and last line
    with pytest.raises(SystemExit, match='no task named nope'):
        scheduler.close()
