"""The dead-letter store: list, inspect, requeue, delete and purge; shared by the API and `fba dlq`.

Functions take the caller's session and never commit. Details are redacted
here, so neither the API nor the CLI can show a secret by forgetting to.
"""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.crud import crud_dead_letter
from backend.app.task.errors import DeadLetterAlreadyRequeued, DeadLetterNotFound, DeadLetterNotRequeueable
from backend.app.task.messaging.dispatch import publish
from backend.app.task.messaging.queues import check_queue
from backend.app.task.model.dead_letter import TaskDeadLetter
from backend.app.task.schema.dead_letter import DeadLetterFilter, GetDeadLetterDetail
from backend.app.task.utils.redact import MASK, redact, redact_call
from backend.app.task.utils.signature import parameter_names


async def get_list(
    *, db: AsyncSession, app: Celery, filters: DeadLetterFilter, limit: int, offset: int
) -> tuple[list[GetDeadLetterDetail], int]:
    rows, total = await crud_dead_letter.list_rows(db, where=_where(filters), limit=limit, offset=offset)
    return [_detail(app, row) for row in rows], total


async def get(*, db: AsyncSession, app: Celery, pk: int) -> GetDeadLetterDetail:
    return _detail(app, await _get_or_raise(db, pk))


async def requeue(*, db: AsyncSession, app: Celery, pk: int, again: bool = False) -> GetDeadLetterDetail:
    """Send the task again with the same arguments, queue and a new id; the row keeps the new id.

    A second requeue would run the task twice and the row would remember only the last id, so it needs `again`.
    """
    row = await _get_or_raise(db, pk)
    if row.requeued_task_id and not again:
        raise DeadLetterAlreadyRequeued(
            f'Dead letter {pk} was already requeued as task {row.requeued_task_id}; requeue it again only with '
            '--again (API: ?again=true).'
        )
    if row.task_name is None:
        raise DeadLetterNotRequeueable(f'Dead letter {pk} has no task name (its message was undecodable).')
    check_queue(app, row.queue or None)
    options = {'queue': row.queue} if row.queue else {}
    # Publishing blocks on the broker's confirm: keep it off the API's event loop.
    task_id = await asyncio.to_thread(
        publish, app, row.task_name, list(row.args or []), dict(row.kwargs or {}), **options
    )
    await crud_dead_letter.mark_requeued(db, row, task_id, datetime.now(UTC))
    return _detail(app, row)


async def delete(*, db: AsyncSession, pk: int) -> None:
    await _get_or_raise(db, pk)
    await crud_dead_letter.delete_rows(db, where=[TaskDeadLetter.id == pk])


async def purge(*, db: AsyncSession, filters: DeadLetterFilter) -> int:
    """Delete every row matching `filters` (an empty filter matches all); returns how many went."""
    return await crud_dead_letter.delete_rows(db, where=_where(filters))


async def _get_or_raise(db: AsyncSession, pk: int) -> TaskDeadLetter:
    row = await crud_dead_letter.get(db, pk)
    if row is None:
        raise DeadLetterNotFound(f'No dead letter has id {pk}.')
    return row


def _where(filters: DeadLetterFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.task_name is not None:
        where.append(TaskDeadLetter.task_name == filters.task_name)
    if filters.reason is not None:
        where.append(TaskDeadLetter.reason == filters.reason)
    if filters.exception_type is not None:
        where.append(TaskDeadLetter.exception_type == filters.exception_type)
    if filters.failed_after is not None:
        where.append(TaskDeadLetter.last_failed_at >= filters.failed_after)
    if filters.failed_before is not None:
        where.append(TaskDeadLetter.last_failed_at < filters.failed_before)
    return where


def _param_names(app: Celery, task_name: str | None) -> list[str] | None:
    return parameter_names(app.tasks.get(task_name) if task_name else None)


def _shown_body(body: str | None) -> str | None:
    """A refused body is shown redacted when it is JSON, and not at all otherwise (it may hold anything)."""
    if body is None:
        return None
    try:
        return json.dumps(redact(json.loads(body)))
    except ValueError:
        return f'{MASK} ({len(body)} characters that are not JSON)'


def _detail(app: Celery, row: TaskDeadLetter) -> GetDeadLetterDetail:
    args: Any = row.args
    kwargs: Any = row.kwargs
    if isinstance(args, list) and isinstance(kwargs, dict | None):
        args, kwargs = redact_call(_param_names(app, row.task_name), args, kwargs or {})
    else:
        args, kwargs = redact(args), redact(kwargs)
    return GetDeadLetterDetail(
        id=row.id,
        task_id=row.task_id,
        task_name=row.task_name,
        args=args,
        kwargs=kwargs,
        queue=row.queue,
        reason=row.reason,
        exception_type=row.exception_type,
        exception_message=row.exception_message,
        traceback=row.traceback,
        body=_shown_body(row.body),
        retries=row.retries,
        failures=row.failures,
        worker=row.worker,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        requeued_task_id=row.requeued_task_id,
        requeued_at=row.requeued_at,
    )
