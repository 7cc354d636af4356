"""The operational numbers the API exports for Prometheus (rendered as text by api/metrics.py)."""

from pydantic import BaseModel, Field

from backend.app.task.schema.monitoring import GetQueueDetail


class GetOpsMetricsDetail(BaseModel):
    broker_up: bool = Field(description='The broker answered the queue-depth probe')
    queues: list[GetQueueDetail]
    dead_letters: int
    schedules_enabled: int
    schedule_runs_undispatched: int = Field(description='Slots beat claimed but has not published (yet)')
    beat_lag_last_seconds: float | None = Field(description='dispatched_at - scheduled_for of the latest beat run')
    beat_lag_max_seconds: float | None = Field(description='Largest such lag within the window')
