"""Everything under `/api/v1`; every route needs a bearer token except `/monitoring/live` and `/monitoring/health`."""

from fastapi import APIRouter, Depends

from backend.app.task.api.deps import require_token
from backend.app.task.api.errors import error_responses
from backend.app.task.api.v1 import dead_letters, monitoring, schedules, task_results, tasks

api_router = APIRouter(prefix='/api/v1')
for module in (tasks, task_results, schedules, dead_letters):
    api_router.include_router(
        module.router, dependencies=[Depends(require_token)], responses=error_responses(401, 422, 503)
    )
api_router.include_router(monitoring.router)
