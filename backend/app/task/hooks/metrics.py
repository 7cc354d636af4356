"""Prometheus counters, a run-time histogram and an in-progress gauge per task name.

The metrics live in the default registry of each process. Under `fba worker
--metrics-port` the prometheus multiprocess directory is set before this module
is imported, so prefork children write to files the worker's parent serves
(see worker/metrics_exporter.py); elsewhere they are plain in-process values.
"""

import functools
from typing import Any, TypeVar

from billiard.einfo import ExceptionInfo
from celery import Task
from celery.signals import task_received
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from backend.app.task.hooks.base import TaskHook, run_time

RECEIVED = Counter('fba_task_received', 'Tasks a worker took from the broker.', ['task'])
SUCCEEDED = Counter('fba_task_succeeded', 'Tasks that returned.', ['task'])
FAILED = Counter('fba_task_failed', 'Tasks that failed for good.', ['task'])
RETRIED = Counter('fba_task_retried', 'Task runs that raised and were scheduled again.', ['task'])
RUNTIME = Histogram(
    'fba_task_runtime_seconds',
    'Seconds from start to end of a task run, whatever its outcome.',
    ['task'],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
IN_PROGRESS = Gauge('fba_task_in_progress', 'Tasks running now.', ['task'], multiprocess_mode='livesum')

M = TypeVar('M', bound=MetricWrapperBase)


@functools.cache
def child(metric: M, task: str) -> M:
    """`metric.labels(task)`, looked up once per metric and task name (`labels()` locks and builds a key)."""
    return metric.labels(task)


def _count_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    child(RECEIVED, request.name).inc()


class MetricsHook(TaskHook):
    def __init__(self) -> None:
        # Receiving happens in the worker's consumer, before any task hook runs.
        task_received.connect(_count_received, weak=False, dispatch_uid='fba.metrics.received')

    def on_start(self, task: Task, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        task.request.fba_metrics_in_progress = True
        child(IN_PROGRESS, task.name).inc()

    def on_success(self, task: Task, retval: Any, task_id: str, args: tuple, kwargs: dict[str, Any]) -> None:
        self._finish(task)
        child(SUCCEEDED, task.name).inc()

    def on_failure(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        self._finish(task)
        child(FAILED, task.name).inc()

    def on_retry(
        self, task: Task, exc: BaseException, task_id: str, args: tuple, kwargs: dict[str, Any], einfo: ExceptionInfo
    ) -> None:
        self._finish(task)
        child(RETRIED, task.name).inc()

    @staticmethod
    def _finish(task: Task) -> None:
        if not getattr(task.request, 'fba_metrics_in_progress', False):
            # The body never started (e.g. rejected before running): nothing is in progress.
            return
        task.request.fba_metrics_in_progress = False
        child(IN_PROGRESS, task.name).dec()
        child(RUNTIME, task.name).observe(run_time(task) or 0.0)
