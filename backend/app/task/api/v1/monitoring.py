"""`/monitoring`: liveness and health (the routes without auth), queues, workers, failed and slow runs."""

import functools
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, Paging, page_of, require_token
from backend.app.task.api.errors import error_responses
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.schema.common import PageDetail
from backend.app.task.schema.monitoring import (
    GetHealthDetail,
    GetLiveDetail,
    GetQueueDetail,
    GetTaskRunDetail,
    GetWorkerDetail,
)
from backend.app.task.service import monitoring_service
from backend.app.task.service.health_cache import HealthCache

router = APIRouter(prefix='/monitoring', tags=['monitoring'])
protected = APIRouter(dependencies=[Depends(require_token)])

TaskNameFilter = Annotated[str | None, Query(max_length=API_NAME_MAX_LENGTH, description='Only this task')]


def _health_cache(request: Request) -> HealthCache:
    """One cache per API app, made on first use (no await in between, so no two are made)."""
    state = request.app.state
    if getattr(state, 'health_cache', None) is None:
        state.health_cache = HealthCache(functools.partial(monitoring_service.health, app=state.celery))
    return state.health_cache


@router.get('/live', summary='The API process answers (no auth, no I/O): a liveness probe')
async def live() -> GetLiveDetail:
    return GetLiveDetail(status='ok')


@router.get(
    '/health',
    responses={503: {'model': GetHealthDetail, 'description': 'Broker, database or every worker down'}},
    summary='Broker, database and workers answering, at most about 2 s ago (no auth): a readiness probe',
)
async def health(cache: Annotated[HealthCache, Depends(_health_cache)], response: Response) -> GetHealthDetail:
    detail = await cache.get()
    response.status_code = 200 if detail.status == 'ok' else 503
    return detail


@protected.get('/queues', summary='Messages waiting and consumers, per known queue')
async def queues(celery: CeleryApp) -> list[GetQueueDetail]:
    return await monitoring_service.queues(app=celery)


@protected.get('/workers', summary='Workers answering, with their load and queues')
async def workers(celery: CeleryApp) -> list[GetWorkerDetail]:
    return await monitoring_service.workers(app=celery)


@protected.get('/tasks/failed', summary='Failed task runs, newest first')
async def failed_tasks(
    db: CurrentSessionTransaction, paging: Paging, name: TaskNameFilter = None
) -> PageDetail[GetTaskRunDetail]:
    items, total = await monitoring_service.failed_tasks(db=db, name=name, limit=paging.limit, offset=paging.offset)
    return page_of(items, total, paging)


@protected.get('/tasks/slow', summary='Finished task runs that took at least min_runtime seconds, slowest first')
async def slow_tasks(
    db: CurrentSessionTransaction,
    paging: Paging,
    min_runtime: Annotated[float, Query(ge=0, le=1_000_000, description='Seconds')] = 1.0,
    name: TaskNameFilter = None,
) -> PageDetail[GetTaskRunDetail]:
    items, total = await monitoring_service.slow_tasks(
        db=db, min_runtime=min_runtime, name=name, limit=paging.limit, offset=paging.offset
    )
    return page_of(items, total, paging)


router.include_router(protected, responses=error_responses(401, 422, 503))
