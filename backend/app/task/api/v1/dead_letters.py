"""`/dead-letters`: tasks that failed for good (arguments redacted by the service); requeue, delete, purge."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, Paging, RowId, page_of
from backend.app.task.api.errors import error_responses
from backend.app.task.schema.common import IsoDatetime, PageDetail
from backend.app.task.schema.dead_letter import DeadLetterFilter, GetDeadLetterDetail
from backend.app.task.service import dead_letter_service

router = APIRouter(prefix='/dead-letters', tags=['dead letters'])


class DeadLetterFilterParam(DeadLetterFilter):
    """The service's filter, with dates taken only as ISO 8601 text."""

    failed_after: IsoDatetime | None = Field(default=None, description='Last failure at or after this time')
    failed_before: IsoDatetime | None = Field(default=None, description='Last failure before this time')


class PurgedDeadLettersDetail(BaseModel):
    purged: int


@router.get('', summary='List dead letters, newest failure first')
async def list_dead_letters(
    db: CurrentSessionTransaction, celery: CeleryApp, paging: Paging, filters: Annotated[DeadLetterFilterParam, Query()]
) -> PageDetail[GetDeadLetterDetail]:
    items, total = await dead_letter_service.get_list(
        db=db, app=celery, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return page_of(items, total, paging)


@router.post('/purge', responses=error_responses(400, 413), summary='Delete every dead letter matching the filter')
async def purge_dead_letters(
    db: CurrentSessionTransaction,
    filters: DeadLetterFilterParam,
    all_: Annotated[bool, Query(alias='all', description='Needed to purge with an empty filter')] = False,
) -> PurgedDeadLettersDetail:
    if filters.is_empty() and not all_:
        raise HTTPException(422, 'Give at least one filter, or ?all=true to purge every dead letter.')
    return PurgedDeadLettersDetail(purged=await dead_letter_service.purge(db=db, filters=filters))


@router.get('/{pk:int}', responses=error_responses(404), summary='One dead letter')
async def get_dead_letter(db: CurrentSessionTransaction, celery: CeleryApp, pk: RowId) -> GetDeadLetterDetail:
    return await dead_letter_service.get(db=db, app=celery, pk=pk)


@router.post('/{pk:int}/requeue', responses=error_responses(404, 409), summary='Send the task again with a new id')
async def requeue_dead_letter(
    db: CurrentSessionTransaction,
    pk: RowId,
    celery: CeleryApp,
    again: Annotated[bool, Query(description='Requeue a dead letter that was requeued before')] = False,
) -> GetDeadLetterDetail:
    return await dead_letter_service.requeue(db=db, pk=pk, app=celery, again=again)


@router.delete('/{pk:int}', status_code=204, responses=error_responses(404), summary='Delete one dead letter')
async def delete_dead_letter(db: CurrentSessionTransaction, pk: RowId) -> Response:
    await dead_letter_service.delete(db=db, pk=pk)
    return Response(status_code=204)
