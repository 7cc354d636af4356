"""Shapes of registered tasks, send requests and results, shared by the API and the CLI."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class GetTaskDetail(BaseModel):
    name: str = Field(description='Registered task name')
    module: str = Field(description='Python module defining the task')
    queue: str | None = Field(description='Queue the task is routed to by default')
    doc: str | None = Field(description='First paragraph of the docstring')
    is_async: bool = Field(description='The body is a coroutine run on the worker loop')
    arg_schema: dict[str, Any] | None = Field(description='JSON schema of the keyword arguments, when declared')


class SendTaskOptions(BaseModel):
    countdown: float | None = Field(default=None, ge=0, le=31_536_000)
    eta: datetime | None = None
    queue: str | None = Field(default=None, max_length=155)
    priority: int | None = Field(default=None, ge=0, le=255)
    expires: float | None = Field(default=None, gt=0, le=31_536_000)


class GetTaskResultDetail(BaseModel):
    task_id: str
    state: str
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    name: str | None = None
    worker: str | None = None
    retries: int | None = None
    queue: str | None = None
    date_done: datetime | None = None
