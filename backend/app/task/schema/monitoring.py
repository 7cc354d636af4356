"""What the monitoring routes show: health, queues, workers and task runs (never a URL or a secret)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class GetLiveDetail(BaseModel):
    status: Literal['ok']


class GetHealthDetail(BaseModel):
    status: Literal['ok', 'unavailable']
    broker: bool = Field(description='The broker accepted a connection')
    database: bool = Field(description='PostgreSQL answered a query')
    workers: int = Field(description='Workers that answered a ping')


class GetQueueDetail(BaseModel):
    name: str
    messages: int = Field(description='Messages waiting (all priorities)')
    consumers: int | None = Field(
        description='Consumers attached (on Redis: workers that list the queue among their active queues)'
    )


class GetWorkerDetail(BaseModel):
    name: str
    status: Literal['online', 'unresponsive']
    active: int = Field(description='Tasks running now')
    processed: int = Field(description='Tasks finished since the worker started')
    pool: str | None = Field(description='prefork, threads or solo')
    concurrency: int | None
    queues: list[str]


class GetTaskRunDetail(BaseModel):
    task_id: str
    name: str | None
    status: str
    worker: str | None
    queue: str | None
    retries: int | None
    runtime: float | None = Field(description='Seconds from start to finish')
    date_done: datetime | None
    error: str | None = Field(default=None, description='Exception type and message of a failed run')
