"""Health, queue depths, workers and notable task runs, for `/monitoring` (and anything else that asks).

Broker and worker probes are blocking kombu/Celery calls, so they run in a
thread; each is bounded by a short timeout and a probe that fails reports
"down" rather than raising. The health probe uses its own database session,
so health calls never hold connections the other routes need.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable
from typing import Any, TypeVar

from celery import Celery, states
from sqlalchemy import ColumnElement, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.constants import API_INSPECT_TIMEOUT, BEAT_NODE_PREFIX
from backend.app.task.crud import crud_task_result
from backend.app.task.model.result import TaskResult
from backend.app.task.schema.monitoring import GetHealthDetail, GetQueueDetail, GetTaskRunDetail, GetWorkerDetail
from backend.database.db import async_session

logger = logging.getLogger(__name__)
T = TypeVar('T')


#: Longest one health check may take; a check still running then counts as "down".
PROBE_TIMEOUT = 3.0


def _broker_answers(app: Celery) -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=min(PROBE_TIMEOUT, app.conf.broker_connection_timeout))
        return True
    except Exception as error:  # any failure means "down"; the type is enough to diagnose
        logger.warning('broker probe failed: %s', type(error).__name__, extra={'action': 'health'})
        return False


def _answering(app: Celery) -> list[str]:
    """Names of the workers that answer a ping; raises if the broker does not answer."""
    replies = app.control.ping(timeout=API_INSPECT_TIMEOUT) or []
    return sorted(name for reply in replies for name in reply if not name.startswith(BEAT_NODE_PREFIX))


def _ping(app: Celery) -> list[str]:
    """The workers that answer ping (beat answers too, under its own node name, and is left out)."""
    try:
        return _answering(app)
    except Exception as error:
        logger.warning('worker ping failed: %s', type(error).__name__, extra={'action': 'health'})
        return []


async def _database_answers() -> bool:
    try:
        async with async_session() as session:
            await session.execute(text('SELECT 1'))
        return True
    except Exception as error:
        logger.warning('database probe failed: %s', type(error).__name__, extra={'action': 'health'})
        return False


async def _bounded(check: Awaitable[T], down: T, what: str) -> T:
    """The check's answer, or `down` once PROBE_TIMEOUT has passed (a thread left behind ends by its own timeout)."""
    try:
        return await asyncio.wait_for(check, PROBE_TIMEOUT)
    except TimeoutError:
        logger.warning('%s probe took over %s s', what, PROBE_TIMEOUT, extra={'action': 'health'})
        return down


async def _broker_and_workers(app: Celery) -> tuple[bool, list[str]]:
    """Workers are pinged only through a broker that answers: a ping through a dead one would only wait."""
    if not await _bounded(asyncio.to_thread(_broker_answers, app), False, 'broker'):
        return False, []
    return True, await _bounded(asyncio.to_thread(_ping, app), [], 'worker')


async def health(*, app: Celery) -> GetHealthDetail:
    """Readiness: broker, database and at least one worker answer. Run through a `HealthCache`, not per call."""
    (broker, workers), database = await asyncio.gather(
        _broker_and_workers(app), _bounded(_database_answers(), False, 'database')
    )
    ok = broker and database and bool(workers)
    return GetHealthDetail(status='ok' if ok else 'unavailable', broker=broker, database=database, workers=len(workers))


def queue_names(app: Celery) -> list[str]:
    """The default queue, the configured ones and those tasks are routed to."""
    names = {app.conf.task_default_queue}
    names.update(queue.name for queue in app.conf.task_queues or ())
    names.update(task.queue for task in app.tasks.values() if getattr(task, 'queue', None))
    return sorted(names)


def _consumers_by_queue(app: Celery) -> Counter[str]:
    """How many workers consume each queue, from their active queues: Redis keeps no consumer count of its own."""
    names = _ping(app)
    if not names:
        return Counter()
    inspect = app.control.inspect(destination=names, timeout=API_INSPECT_TIMEOUT, limit=len(names))
    consumed = inspect.active_queues() or {}
    return Counter(queue['name'] for queues in consumed.values() for queue in queues or [])


def _queue_depths(app: Celery, names: list[str]) -> list[GetQueueDetail]:
    # A passive declare reads depth and consumers without creating anything; on Redis kombu
    # answers it with LLEN over the queue's priority sub-lists, and the workers are asked what they consume.
    shown = []
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=app.conf.broker_connection_timeout)
        counts_consumers = conn.transport.driver_type == 'amqp'
        consuming = Counter[str]() if counts_consumers else _consumers_by_queue(app)
        for name in names:
            channel = conn.channel()
            try:
                _, messages, consumers = channel.queue_declare(queue=name, passive=True)
            except conn.channel_errors:  # the queue does not exist (yet): nothing waits in it
                messages, consumers = 0, 0
            finally:
                _close_quietly(channel)
            shown.append(
                GetQueueDetail(
                    name=name, messages=messages, consumers=consumers if counts_consumers else consuming[name]
                )
            )
    return shown


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # the broker may already have closed it after a 404
        logger.debug('channel already closed', extra={'action': 'queues'})


async def queues(*, app: Celery) -> list[GetQueueDetail]:
    return await asyncio.to_thread(_queue_depths, app, queue_names(app))


def _inspect_workers(app: Celery) -> list[GetWorkerDetail]:
    # The broker down is an error (503), not "no workers".
    names = _answering(app)
    if not names:
        return []
    # Knowing how many answer lets each broadcast return as soon as all have, not after the timeout.
    inspect = app.control.inspect(destination=names, timeout=API_INSPECT_TIMEOUT, limit=len(names))
    stats, active, consumed = inspect.stats() or {}, inspect.active() or {}, inspect.active_queues() or {}
    return [_worker_detail(name, stats.get(name), active.get(name), consumed.get(name)) for name in names]


def _worker_detail(name: str, stats: dict | None, active: list | None, consumed: list | None) -> GetWorkerDetail:
    pool = (stats or {}).get('pool', {})
    implementation = pool.get('implementation')
    return GetWorkerDetail(
        name=name,
        status='online' if stats is not None else 'unresponsive',
        active=len(active or []),
        processed=sum((stats or {}).get('total', {}).values()),
        pool=implementation.split(':')[0].rsplit('.', 1)[-1] if implementation else None,
        concurrency=pool.get('max-concurrency'),
        queues=sorted(queue['name'] for queue in consumed or []),
    )


async def workers(*, app: Celery) -> list[GetWorkerDetail]:
    return await asyncio.to_thread(_inspect_workers, app)


def _error_of(row: TaskResult) -> str | None:
    if row.status not in states.EXCEPTION_STATES or not isinstance(row.result, dict):
        return None
    message = row.result.get('exc_message')
    if isinstance(message, list | tuple):
        message = ' '.join(map(str, message))
    return f'{row.result.get("exc_type", "Error")}: {message}'


def _run_detail(row: TaskResult) -> GetTaskRunDetail:
    return GetTaskRunDetail(
        task_id=row.task_id,
        name=row.name,
        status=row.status,
        worker=row.worker,
        queue=row.queue,
        retries=row.retries,
        runtime=row.runtime,
        date_done=row.date_done,
        error=_error_of(row),
    )


async def _runs(
    db: AsyncSession,
    where: list[ColumnElement[bool]],
    order_by: ColumnElement,
    name: str | None,
    limit: int,
    offset: int,
) -> tuple[list[GetTaskRunDetail], int]:
    if name is not None:
        where.append(TaskResult.name == name)
    rows, total = await crud_task_result.list_runs(db, where=where, order_by=order_by, limit=limit, offset=offset)
    return [_run_detail(row) for row in rows], total


async def failed_tasks(
    *, db: AsyncSession, name: str | None = None, limit: int, offset: int
) -> tuple[list[GetTaskRunDetail], int]:
    """Failed runs, newest first."""
    where = [TaskResult.status == states.FAILURE]
    return await _runs(db, where, TaskResult.date_done.desc().nulls_last(), name, limit, offset)


async def slow_tasks(
    *, db: AsyncSession, min_runtime: float, name: str | None = None, limit: int, offset: int
) -> tuple[list[GetTaskRunDetail], int]:
    """Finished runs that took at least `min_runtime` seconds, slowest first."""
    where = [TaskResult.runtime >= min_runtime]
    return await _runs(db, where, TaskResult.runtime.desc(), name, limit, offset)
