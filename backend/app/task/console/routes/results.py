"""Task results: look one up by id and follow its state live; recent failures and slow runs."""

from typing import Annotated, Any
from urllib.parse import quote

from celery import states
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction
from backend.app.task.console.render import render
from backend.app.task.console.routing import ConsoleRoute, SignedIn
from backend.app.task.constants import API_NAME_MAX_LENGTH
from backend.app.task.errors import TaskResultNotFound
from backend.app.task.schema.task import GetTaskResultDetail
from backend.app.task.service import monitoring_service, task_service

router = APIRouter(prefix='/console/results', route_class=ConsoleRoute)

TaskId = Annotated[str, Path(max_length=API_NAME_MAX_LENGTH)]
#: States after which a result no longer changes, so the page stops polling.
FINAL_STATES = frozenset({'SUCCESS', 'FAILURE', 'REVOKED'})


@router.get('')
async def results(
    request: Request,
    session: SignedIn,
    db: CurrentSessionTransaction,
    task_id: Annotated[str | None, Query(max_length=API_NAME_MAX_LENGTH)] = None,
    min_runtime: Annotated[float, Query(ge=0, le=1_000_000)] = 1.0,
) -> Response:
    if task_id and task_id.strip():
        return RedirectResponse(f'/console/results/{quote(task_id.strip(), safe="")}', 303)
    failed, failed_total = await monitoring_service.failed_tasks(db=db, limit=20, offset=0)
    slow, slow_total = await monitoring_service.slow_tasks(db=db, min_runtime=min_runtime, limit=20, offset=0)
    return render(
        request,
        'results.html',
        failed=failed,
        failed_total=failed_total,
        slow=slow,
        slow_total=slow_total,
        min_runtime=min_runtime,
    )


async def _result_context(celery: CeleryApp, task_id: str) -> dict[str, Any]:
    try:
        result = await run_in_threadpool(task_service.get_result, celery, task_id)
    except TaskResultNotFound:
        # The console opens this page right after its own send, before any worker has stored a state.
        result = GetTaskResultDetail(task_id=task_id, state=states.PENDING)
    return {'result': result, 'final': result.state in FINAL_STATES}


@router.get('/{task_id}')
async def result_page(request: Request, session: SignedIn, celery: CeleryApp, task_id: TaskId) -> Response:
    return render(request, 'result.html', **await _result_context(celery, task_id))


@router.get('/{task_id}/state')
async def result_state(request: Request, session: SignedIn, celery: CeleryApp, task_id: TaskId) -> Response:
    return render(request, '_result_state.html', **await _result_context(celery, task_id))
