"""`/tasks`: the registered tasks, and sending calls to them."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from backend.app.task.api.deps import AppSettings, CeleryApp, Paging, TaskPublisher, page_of
from backend.app.task.api.errors import error_responses
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.schema.common import PageDetail
from backend.app.task.schema.task import (
    GetTaskDetail,
    SendTaskBatchParam,
    SendTaskParam,
    SentTaskBatchDetail,
    SentTaskDetail,
)
from backend.app.task.service import task_service

router = APIRouter(prefix='/tasks', tags=['tasks'])

TaskName = Annotated[str, Path(max_length=API_NAME_MAX_LENGTH, description='Registered task name')]
SEND_ERRORS = error_responses(400, 404, 413)


@router.get('', summary='List registered tasks')
async def list_tasks(
    celery: CeleryApp,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=API_NAME_MAX_LENGTH, description='Part of the name')] = None,
    queue: Annotated[str | None, Query(max_length=API_NAME_MAX_LENGTH, description='Default queue')] = None,
) -> PageDetail[GetTaskDetail]:
    found = [
        task
        for task in task_service.list_tasks(celery)
        if (name is None or name in task.name) and (queue is None or (task.queue or 'default') == queue)
    ]
    return page_of(found[paging.offset : paging.offset + paging.limit], len(found), paging)


@router.post('/{name}/send', status_code=202, responses=SEND_ERRORS, summary='Send one call')
async def send_task(name: TaskName, body: SendTaskParam, publisher: TaskPublisher) -> SentTaskDetail:
    task_id = await task_service.send(publisher, name, body.args, body.kwargs, body.options())
    return SentTaskDetail(task_id=task_id)


@router.post('/{name}/send-batch', status_code=202, responses=SEND_ERRORS, summary='Send many calls at once')
async def send_task_batch(
    name: TaskName, body: SendTaskBatchParam, celery: CeleryApp, settings: AppSettings
) -> SentTaskBatchDetail:
    if len(body.items) > settings.API_SEND_BATCH_MAX:
        raise HTTPException(413, f'A batch holds at most {settings.API_SEND_BATCH_MAX} calls; split it.')
    calls = [(item.args, item.kwargs) for item in body.items]
    task_ids = await run_in_threadpool(task_service.send_batch, celery, name, calls, body.options())
    return SentTaskBatchDetail(task_ids=task_ids)
