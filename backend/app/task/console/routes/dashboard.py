"""The dashboard: outcomes per minute, queues, workers, beat's lag and recent dead letters; its live region polls."""

from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction
from backend.app.task.console.render import render
from backend.app.task.console.routing import ConsoleRoute, SignedIn
from backend.app.task.schema.dead_letter import DeadLetterFilter
from backend.app.task.service import dead_letter_service, metrics_service, monitoring_service, overview_service

router = APIRouter(prefix='/console', route_class=ConsoleRoute)


async def _overview(db: AsyncSession, celery: Celery) -> dict[str, Any]:
    outcomes = await overview_service.outcomes_per_minute(db=db)
    recent = DeadLetterFilter(failed_after=datetime.now(UTC) - timedelta(hours=24))
    dead, dead_total = await dead_letter_service.get_list(db=db, app=celery, filters=recent, limit=5, offset=0)
    return {
        'outcomes': outcomes,
        'peak': max([1, *(o.succeeded for o in outcomes), *(o.failed for o in outcomes)]),
        'totals': (sum(o.succeeded for o in outcomes), sum(o.failed for o in outcomes)),
        'ops': await metrics_service.collect(app=celery, db=db),
        'workers': await monitoring_service.workers(app=celery),
        'dead_letters': dead,
        'dead_letters_24h': dead_total,
        'since_24h': recent.failed_after,
        'now': datetime.now(UTC),
    }


@router.get('')
async def dashboard(request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp) -> Response:
    return render(request, 'dashboard.html', **await _overview(db, celery))


@router.get('/live')
async def dashboard_live(
    request: Request, session: SignedIn, db: CurrentSessionTransaction, celery: CeleryApp
) -> Response:
    return render(request, '_dashboard_live.html', **await _overview(db, celery))
