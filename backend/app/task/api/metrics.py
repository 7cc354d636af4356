"""`GET /metrics`: the framework's state in Prometheus text format (bearer token, like every route but health).

Worker-side task counts and run times come from each worker's own metrics
port (`fba worker --metrics-port`); this route adds what only the API sees.
"""

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from backend.app.task.api.deps import CeleryApp, CurrentSessionTransaction, require_token
from backend.app.task.api.errors import error_responses
from backend.app.task.schema.metrics import GetOpsMetricsDetail
from backend.app.task.service import metrics_service

TEXT = {'type': 'string'}
router = APIRouter(tags=['metrics'], dependencies=[Depends(require_token)], responses=error_responses(401))


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    return family


class _Snapshot(Collector):
    def __init__(self, detail: GetOpsMetricsDetail) -> None:
        self.detail = detail

    def collect(self) -> Iterator[GaugeMetricFamily]:
        d = self.detail
        yield _gauge('fba_broker_up', 'Whether the broker answered the queue-depth probe.', float(d.broker_up))
        messages = GaugeMetricFamily('fba_queue_messages', 'Messages waiting in the queue.', labels=['queue'])
        consumers = GaugeMetricFamily(
            'fba_queue_consumers', 'Consumers attached (on Redis: workers consuming it).', labels=['queue']
        )
        for queue in d.queues:
            messages.add_metric([queue.name], queue.messages)
            if queue.consumers is not None:
                consumers.add_metric([queue.name], queue.consumers)
        yield messages
        yield consumers
        yield _gauge('fba_dead_letters', 'Tasks in the dead-letter store.', d.dead_letters)
        yield _gauge('fba_schedules_enabled', 'Enabled schedules.', d.schedules_enabled)
        yield _gauge(
            'fba_schedule_runs_undispatched', 'Slots claimed by beat, not yet published.', d.schedule_runs_undispatched
        )
        yield _gauge(
            'fba_beat_dispatch_lag_seconds',
            "dispatched_at - scheduled_for of beat's latest run.",
            d.beat_lag_last_seconds,
        )
        yield _gauge(
            'fba_beat_dispatch_lag_max_seconds',
            'Largest dispatched_at - scheduled_for of beat runs in the recent window.',
            d.beat_lag_max_seconds,
        )


@router.get(
    '/metrics',
    summary='Prometheus metrics: queue depths, dead letters, schedules, beat lag',
    responses={200: {'description': 'Prometheus text format', 'content': {'text/plain': {'schema': TEXT}}}},
)
async def metrics(celery: CeleryApp, db: CurrentSessionTransaction) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await metrics_service.collect(app=celery, db=db)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
