"""Operational numbers for Prometheus: queue depths, dead letters, schedules and beat's dispatch lag."""

import logging
from datetime import UTC, datetime, timedelta

from celery import Celery
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.constants import METRICS_LAG_WINDOW_SECONDS
from backend.app.task.crud import crud_metrics
from backend.app.task.schema.metrics import GetOpsMetricsDetail
from backend.app.task.schema.monitoring import GetQueueDetail
from backend.app.task.service import monitoring_service

logger = logging.getLogger(__name__)


async def _queues(app: Celery) -> list[GetQueueDetail] | None:
    try:
        return await monitoring_service.queues(app=app)
    except Exception as error:  # the broker being down is itself a metric, not an error of the scrape
        logger.warning('queue depth probe failed: %s', type(error).__name__, extra={'action': 'metrics'})
        return None


async def collect(*, app: Celery, db: AsyncSession) -> GetOpsMetricsDetail:
    queues = await _queues(app)
    since = datetime.now(UTC) - timedelta(seconds=METRICS_LAG_WINDOW_SECONDS)
    lag_last, lag_max = await crud_metrics.beat_dispatch_lag(db, since=since)
    return GetOpsMetricsDetail(
        broker_up=queues is not None,
        queues=queues or [],
        dead_letters=await crud_metrics.count_dead_letters(db),
        schedules_enabled=await crud_metrics.count_enabled_schedules(db),
        schedule_runs_undispatched=await crud_metrics.count_undispatched_runs(db),
        beat_lag_last_seconds=lag_last,
        beat_lag_max_seconds=lag_max,
    )
