"""Shapes of registered tasks, send requests and results, shared by the API and the CLI."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.app.task.constants import API_MAX_DELAY_SECONDS, API_NAME_MAX_LENGTH
from backend.app.task.messaging.queues import MAX_PRIORITY
from backend.app.task.schema.common import IsoDatetime, JsonArgs, JsonKwargs

#: Request bodies take JSON as typed: `0` is not `false`, `"1"` is not `1`.
STRICT = ConfigDict(strict=True, extra='forbid')


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
    args: list[Any] | None = Field(default=None, description='Positional arguments, secrets masked')
    kwargs: dict[str, Any] | None = Field(default=None, description='Keyword arguments, secrets masked')


class SendOptionsParam(BaseModel):
    """When and where the API runs a call; checked more strictly than `SendTaskOptions`, as it comes from outside."""

    model_config = STRICT

    countdown: float | None = Field(
        default=None, ge=0, le=API_MAX_DELAY_SECONDS, description='Seconds to wait; or give eta'
    )
    eta: IsoDatetime | None = Field(
        default=None, strict=False, description='When to run (ISO 8601), within a year from now; or give countdown'
    )
    queue: str | None = Field(default=None, pattern=r'^[A-Za-z0-9_.:@-]+$', max_length=API_NAME_MAX_LENGTH)
    priority: int | None = Field(default=None, ge=0, le=MAX_PRIORITY, description='Higher runs first')
    expires: float | None = Field(
        default=None, gt=0, le=API_MAX_DELAY_SECONDS, description='Seconds until it is discarded'
    )

    @field_validator('eta')
    @classmethod
    def _eta_within_a_year(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if abs((aware - datetime.now(UTC)).total_seconds()) > API_MAX_DELAY_SECONDS:
            raise ValueError('must be within a year of now')
        return aware

    @model_validator(mode='after')
    def _one_start_time(self) -> 'SendOptionsParam':
        if self.countdown is not None and self.eta is not None:
            raise ValueError('give countdown or eta, not both')
        return self

    def options(self) -> SendTaskOptions:
        return SendTaskOptions.model_validate(self.model_dump(include=set(SendTaskOptions.model_fields)))


class SendTaskBatchItem(BaseModel):
    model_config = STRICT

    args: JsonArgs = []
    kwargs: JsonKwargs = {}


class SendTaskParam(SendOptionsParam, SendTaskBatchItem):
    """`POST /tasks/{name}/send`: one call and when/where to run it."""


class SendTaskBatchParam(SendOptionsParam):
    """`POST /tasks/{name}/send-batch`: many calls sharing the same options."""

    items: list[SendTaskBatchItem] = Field(min_length=1, description='At most API_SEND_BATCH_MAX calls')


class SentTaskDetail(BaseModel):
    task_id: str


class SentTaskBatchDetail(BaseModel):
    task_ids: list[str]


class RevokeTaskParam(BaseModel):
    model_config = STRICT

    terminate: bool = Field(default=False, description='Also kill the task if it is already running')


class RevokedTaskDetail(BaseModel):
    task_id: str
    terminate: bool
