"""`/schedules`: schedules stored in PostgreSQL, edited optimistically on `version`, and their runs."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, Paging, RowId, page_of
from backend.app.task.api.errors import error_responses
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.schema.common import PageDetail
from backend.app.task.schema.schedule import (
    CreateScheduleParam,
    GetScheduleDetail,
    GetScheduleRunDetail,
    PatchScheduleParam,
    PreviewScheduleParam,
    UpdateScheduleParam,
)
from backend.app.task.service import schedule_service

router = APIRouter(prefix='/schedules', tags=['schedules'])

FOUND = error_responses(404)
WRITE = error_responses(400, 404, 409, 413)


@router.get('', summary='List schedules')
async def list_schedules(
    db: CurrentSessionTransaction,
    celery: CeleryApp,
    paging: Paging,
    enabled: Annotated[bool | None, Query(description='Only enabled (true) or disabled (false) ones')] = None,
    task: Annotated[str | None, Query(max_length=API_NAME_MAX_LENGTH, description='Only this task')] = None,
) -> PageDetail[GetScheduleDetail]:
    items, total = await schedule_service.get_list(
        db=db, app=celery, enabled=enabled, task=task, limit=paging.limit, offset=paging.offset
    )
    return page_of(items, total, paging)


@router.post('', status_code=201, responses=error_responses(400, 409, 413), summary='Create a schedule')
async def create_schedule(
    db: CurrentSessionTransaction, celery: CeleryApp, obj: CreateScheduleParam
) -> GetScheduleDetail:
    return await schedule_service.create(db=db, app=celery, obj=obj)


@router.post('/preview', responses=error_responses(400, 413), summary='Next fire times of a spec (UTC), unsaved')
async def preview_schedule(obj: PreviewScheduleParam) -> list[datetime]:
    return schedule_service.preview(obj=obj)


@router.get('/{pk:int}', responses=FOUND, summary='One schedule')
async def get_schedule(db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId) -> GetScheduleDetail:
    return await schedule_service.get(db=db, app=celery, pk=pk)


@router.put('/{pk:int}', responses=WRITE, summary='Replace a schedule; 409 if `version` is not the stored one')
async def update_schedule(
    db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId, obj: UpdateScheduleParam
) -> GetScheduleDetail:
    return await schedule_service.update(db=db, app=celery, pk=pk, obj=obj)


@router.patch('/{pk:int}', responses=WRITE, summary='Change some fields; 409 if `version` is not the stored one')
async def patch_schedule(
    db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId, obj: PatchScheduleParam
) -> GetScheduleDetail:
    return await schedule_service.patch(db=db, app=celery, pk=pk, obj=obj)


@router.delete('/{pk:int}', status_code=204, responses=FOUND, summary='Delete a schedule and its runs')
async def delete_schedule(db: CurrentSessionTransaction, pk: RowId) -> Response:
    await schedule_service.delete(db=db, pk=pk)
    return Response(status_code=204)


@router.post('/{pk:int}/enable', responses=FOUND, summary='Enable; the next run is planned from now')
async def enable_schedule(db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId) -> GetScheduleDetail:
    return await schedule_service.enable(db=db, app=celery, pk=pk)


@router.post('/{pk:int}/disable', responses=FOUND, summary='Disable; nothing runs until enabled again')
async def disable_schedule(db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId) -> GetScheduleDetail:
    return await schedule_service.disable(db=db, app=celery, pk=pk)


@router.post('/{pk:int}/run', status_code=202, responses=FOUND, summary="Send the schedule's task now, once")
async def run_schedule(db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId) -> GetScheduleRunDetail:
    return await schedule_service.run_now(db=db, app=celery, pk=pk)


@router.get('/{pk:int}/runs', responses=FOUND, summary='Runs of a schedule, newest first')
async def list_schedule_runs(
    db: CurrentSessionTransaction, pk: RowId, paging: Paging
) -> PageDetail[GetScheduleRunDetail]:
    items, total = await schedule_service.get_runs(db=db, pk=pk, limit=paging.limit, offset=paging.offset)
    return page_of(items, total, paging)
