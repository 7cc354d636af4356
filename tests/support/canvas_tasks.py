"""Tasks only the canvas tests load (`celery worker --include tests.support.canvas_tasks`)."""

import os
import signal
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from backend.app.task.tasks.base import TaskBase, task
from backend.core.conf import get_settings

RUNS_TABLE = 'test_canvas_runs'


@task(name='test.finish_at', bind=True)
def finish_at(self: Any, moment: float, value: int) -> int:
    """Returns `value` at wall-clock `moment`, so header tasks on different threads finish together."""
    time.sleep(max(0.0, moment - time.time()))
    return value


@task(name='test.record', bind=True)
def record(self: Any, values: list[Any]) -> list[Any]:
    """Writes one row per execution, so a test can count how often a chord body ran."""
    with psycopg.connect(get_settings().database_dsn, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO {RUNS_TABLE} (task_id, value) VALUES (%s, %s)', [self.request.id, Jsonb(sorted(values))]
        )
    return sorted(values)


@task(name='test.fail')
def fail(key: str) -> None:
    """Raises KeyError, to check the exception comes back with its type."""
    raise KeyError(key)


class DiesOnceAfterCounted(TaskBase):
    """Kills its worker on the first run of value 0, after the result was stored and the chord counted it but
    before the message is acknowledged: the broker delivers it again (acks_late) and it is counted again."""

    def after_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        if retval != 0:
            return
        with psycopg.connect(get_settings().database_dsn, autocommit=True) as conn:
            died = conn.execute(f'SELECT 1 FROM {RUNS_TABLE} WHERE task_id = %s AND value = \'"died"\'', [task_id])
            if died.fetchone() is not None:
                return
            conn.execute(f'INSERT INTO {RUNS_TABLE} (task_id, value) VALUES (%s, \'"died"\')', [task_id])
        os.kill(os.getpid(), signal.SIGKILL)


@task(name='test.die_once_after_counted', base=DiesOnceAfterCounted)
def die_once_after_counted(value: int) -> int:
    return value
