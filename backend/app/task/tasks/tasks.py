"""General-purpose tasks every deployment has: health probes and small utilities."""

import time

from backend.app.task.tasks.base import task


@task(name='task.ping')
def ping() -> str:
    """Answers 'pong': proves a worker takes and finishes work."""
    return 'pong'


@task(name='task.add')
def add(x: float, y: float) -> float:
    """Adds two numbers; the smallest task with arguments and a result."""
    return x + y


@task(name='task.sleep')
def sleep(seconds: float) -> float:
    """Holds a worker slot for `seconds`; used to test time limits and slow-task monitoring."""
    time.sleep(seconds)
    return seconds
