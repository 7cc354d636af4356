"""`/task-results`: a task's state and outcome (secrets masked), and revoking it."""

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from backend.app.task.api.deps import CeleryApp
from backend.app.task.api.errors import error_responses
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.schema.task import GetTaskResultDetail, RevokedTaskDetail, RevokeTaskParam
from backend.app.task.service import task_service

router = APIRouter(prefix='/task-results', tags=['task results'])

TaskId = Annotated[str, Path(max_length=API_NAME_MAX_LENGTH, description='Id returned when the task was sent')]


@router.get(
    '/{task_id}',
    responses=error_responses(404),
    summary='State and outcome of a task (404 for an id without a result that no schedule run, requeue or group has)',
)
async def get_task_result(task_id: TaskId, celery: CeleryApp) -> GetTaskResultDetail:
    return await run_in_threadpool(task_service.get_result, celery, task_id)


@router.post(
    '/{task_id}/revoke',
    status_code=202,
    responses=error_responses(400, 413),
    summary='Revoke a task so no worker runs it',
)
async def revoke_task(task_id: TaskId, celery: CeleryApp, body: RevokeTaskParam | None = None) -> RevokedTaskDetail:
    terminate = body.terminate if body is not None else False
    await run_in_threadpool(task_service.revoke, celery, task_id, terminate=terminate)
    return RevokedTaskDetail(task_id=task_id, terminate=terminate)
