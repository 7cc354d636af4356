"""Tasks only the reliability tests load (`celery worker --include tests.support.reliability_tasks`).

Each writes what it did to `test_reliability_log` (created by the `reliability_log` fixture), so a test reads
the real effects from PostgreSQL instead of trusting the worker's word.
"""

import os
import signal
import time
from typing import Any

import psycopg
from billiard.process import current_process
from celery.exceptions import SoftTimeLimitExceeded

from backend.app.task.tasks.base import TaskBase, task
from backend.app.task.utils.pg_connection import ThreadConnection

LOG_TABLE = 'test_reliability_log'
#: Celery's own retry options, short: waits of 1 s, 2 s, 4 s (and 1 s after a lost worker), no jitter.
FAST_RETRIES: dict[str, Any] = {
    'max_retries': 3,
    'retry_backoff': 1,
    'retry_backoff_max': 5,
    'retry_jitter': False,
    'default_retry_delay': 1,
}
_conn = ThreadConnection()


def note(run: str, task_id: str | None, value: str) -> None:
    try:
        _conn.get().execute(
            f'INSERT INTO {LOG_TABLE} (run, task_id, value, pid) VALUES (%s, %s, %s, %s)',
            [run, task_id, value, os.getpid()],
        )
    except psycopg.OperationalError:
        _conn.reset()  # PostgreSQL restarted: the retry opens a new connection
        raise


def logged_for(run: str) -> list[tuple[Any, ...]]:
    return (
        _conn.get()
        .execute(f'SELECT task_id, value, pid, at FROM {LOG_TABLE} WHERE run = %s ORDER BY id', [run])
        .fetchall()
    )


@task(name='reliability.flaky', bind=True, **FAST_RETRIES)
def flaky(self: Any, run: str, fail_times: int) -> int:
    """Fails with ConnectionError (retryable by default) on its first `fail_times` attempts."""
    note(run, self.request.id, f'attempt {self.request.retries}')
    if self.request.retries < fail_times:
        raise ConnectionError(f'attempt {self.request.retries} failed')
    return self.request.retries


@task(name='reliability.priority_of_attempts', bind=True, **FAST_RETRIES)
def priority_of_attempts(self: Any, run: str) -> list[int]:
    """Fails once; returns the broker priority of both attempts' messages (a retry must keep the first)."""
    note(run, self.request.id, str(self.request.delivery_info.get('priority')))
    if self.request.retries == 0:
        raise ConnectionError('once')
    return [int(value) for _, value, _, _ in logged_for(run)]


@task(name='reliability.broken', bind=True, **FAST_RETRIES)
def broken(self: Any, run: str, password: str) -> None:
    """Fails with KeyError, which is not retryable: straight to the dead-letter store."""
    note(run, self.request.id, f'attempt {self.request.retries}')
    raise KeyError('no such account')


@task(name='reliability.record', bind=True)
def record(self: Any, run: str, seconds: float = 0.0) -> None:
    """Writes its id (once per execution, so duplicates show), after holding its slot for `seconds`."""
    time.sleep(seconds)
    note(run, self.request.id, 'ran')


@task(name='reliability.soft_limited', bind=True, soft_time_limit=1, time_limit=30)
def soft_limited(self: Any, run: str) -> str:
    """Overruns its soft limit and cleans up when told to."""
    try:
        time.sleep(20)
    except SoftTimeLimitExceeded:
        note(run, self.request.id, 'cleaned up')
        return 'cleaned up'
    return 'not interrupted'


@task(name='reliability.hard_limited', bind=True, soft_time_limit=1, time_limit=2)
def hard_limited(self: Any, run: str) -> None:
    """Ignores its soft limit and overruns its hard limit: the child is killed."""
    note(run, self.request.id, 'started')
    try:
        time.sleep(20)
    except SoftTimeLimitExceeded:
        time.sleep(20)


@task(name='reliability.crash', bind=True, **FAST_RETRIES)
def crash(self: Any, run: str) -> None:
    """Kills the process running it on every attempt, as a segfault or the OOM killer would."""
    note(run, self.request.id, f'attempt {self.request.retries}')
    os.kill(os.getpid(), signal.SIGKILL)


@task(name='reliability.spawn_children', bind=True)
def spawn_children(self: Any, run: str, queue: str) -> None:
    """Notes its own priority, then sends three children: two inheriting it (`task_inherit_parent_priority`), one
    given it from `delivery_info`."""
    note(run, self.request.id, f'parent {self.request.delivery_info.get("priority")}')
    self.app.send_task('reliability.note_priority', args=[run, 'sent'], queue=queue)
    note_priority.apply_async(args=[run, 'applied'], queue=queue)
    priority = self.request.delivery_info['priority']
    note_priority.apply_async(args=[run, 'copied'], queue=queue, priority=priority)


@task(name='reliability.note_priority', bind=True)
def note_priority(self: Any, run: str, how: str) -> None:
    """Notes the priority it was delivered with, as task code reads it."""
    note(run, self.request.id, f'{how} {self.request.delivery_info.get("priority")}')


#: Results JSON writes but PostgreSQL `jsonb` cannot store (or a double cannot hold).
POISON_RESULTS: dict[str, Any] = {
    'nan': float('nan'),
    'inf': [1, {'x': float('inf')}],
    'nul': 'a\x00b',
    'surrogate': '\ud800',
    'huge': 10**400,
}


@task(name='reliability.returns')
def returns(kind: str) -> Any:
    """Returns the poison value named `kind`."""
    return POISON_RESULTS[kind]


@task(name='reliability.kill_worker', bind=True, max_retries=1, default_retry_delay=1)
def kill_worker(self: Any, run: str) -> None:
    """Kills the whole worker on every attempt (its main process: itself on solo and threads, the parent on prefork),
    so no parent is left to notice; only the broker hands the message back."""
    note(run, self.request.id, 'started')
    main = os.getppid() if current_process().name != 'MainProcess' else os.getpid()
    os.kill(main, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


class AfterItsResult(TaskBase):
    """Does its last step after its result was stored (handed to the main process, on a prefork worker), before it
    reports itself done: lingers `seconds`, or with none the first time kills its own pool process."""

    def after_success(self, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        run, seconds = args
        if seconds:
            time.sleep(seconds)
        elif [value for _, value, _, _ in logged_for(run)] == ['ran']:
            note(run, task_id, 'dies')
            os.kill(os.getpid(), signal.SIGKILL)


@task(name='reliability.after_its_result', base=AfterItsResult, bind=True)
def after_its_result(self: Any, run: str, seconds: float) -> str:
    note(run, self.request.id, 'ran')
    return 'done'
