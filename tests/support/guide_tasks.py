"""The fba Celery guide's task examples as a user copies them (`celery worker --include tests.support.guide_tasks`).

Declared with `@celery_app.task` and `@shared_task`, not our `@task`, with and
without `base=TaskBase`: every async body must run on the worker's event loop,
with `self.request` and `self.retry(...)` working inside it.
"""

import asyncio
from typing import Any

from celery import shared_task

from backend.app.task.celery import celery_app
from backend.app.task.tasks.base import TaskBase


async def some_async_operation(param1: str, param2: int) -> str:
    """Stands in for the guide's I/O: fails for a negative `param2`."""
    await asyncio.sleep(0)
    if param2 < 0:
        raise ValueError(f'{param1} cannot take {param2}')
    return f'{param1}:{param2}'


# The guide's "Create Task Module" example, verbatim (hence its untyped signature and bare re-raise).
@celery_app.task(bind=True, base=TaskBase)
async def my_task(self, param1: str, param2: int):  # type: ignore[no-untyped-def]
    """
    Task description

    :param param1: Parameter 1 description
    :param param2: Parameter 2 description
    :return:
    """
    try:
        # Task logic
        result = await some_async_operation(param1, param2)
        return result
    except Exception as e:
        # Retry the task
        raise self.retry(exc=e, countdown=60)  # noqa: B904


@celery_app.task
async def task_demo_async() -> str:
    """Unbound, no base: the app's task class runs it on the loop."""
    await asyncio.sleep(0)
    return 'test async'


@shared_task(bind=True)
async def whoami(self: Any, seconds: float = 0.0) -> dict[str, Any]:
    """Its own request, read after an await (two running at once on one loop must each see their own)."""
    await asyncio.sleep(seconds)
    return {'id': self.request.id, 'retries': self.request.retries, 'hostname': self.request.hostname}


@celery_app.task(bind=True, max_retries=3, default_retry_delay=0)
async def retry_until(self: Any, succeed_on: int) -> int:
    """Retries itself with `self.retry()` until attempt `succeed_on`."""
    await asyncio.sleep(0)
    if self.request.retries < succeed_on:
        raise self.retry(exc=ConnectionError(f'attempt {self.request.retries}'))
    return self.request.retries


@celery_app.task(autoretry_for=(KeyError,), retry_backoff=1, retry_jitter=False, max_retries=1)
async def always_missing(key: str) -> None:
    """Celery's autoretry around an async body: one retry, then the KeyError is the result."""
    raise KeyError(key)


@celery_app.task
def add(x: int, y: int) -> int:
    """A plain synchronous task, as before."""
    return x + y
