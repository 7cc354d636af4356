"""Shapes of schedules, their runs and previews, shared by the API, the CLI and beat's code sync.

Types and column ranges are checked here (a number beyond PostgreSQL's `integer`
is refused by name, not failed in the database); whether a spec can fire (cron fields, time zone, task name,
end after start, positive interval) is checked by the service, which raises
`InvalidSchedule` with a sentence.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from backend.app.task.constants import PG_INT_MAX
from backend.app.task.messaging.call_headers import task_parameter_names
from backend.app.task.schema.common import IsoDatetime, JsonArgs, JsonKwargs
from backend.app.task.utils.redact import redact_call

ScheduleKind = Literal['interval', 'crontab', 'clocked']
IntervalPeriod = Literal['seconds', 'minutes', 'hours', 'days']
MisfirePolicy = Literal['skip', 'coalesce', 'catch_up']


class ScheduleSpecParam(BaseModel):
    """When a schedule fires."""

    kind: ScheduleKind
    interval_every: int | None = Field(
        default=None, le=PG_INT_MAX, description='interval: how many periods between runs'
    )
    interval_period: IntervalPeriod | None = Field(default=None, description='interval: seconds (default) to days')
    crontab: str | None = Field(default=None, max_length=255, description='crontab: "m h dom mon dow"')
    clocked_at: IsoDatetime | None = Field(default=None, description='clocked: the one instant (with offset)')
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone; default the app's TIMEZONE")
    start_at: IsoDatetime | None = None
    end_at: IsoDatetime | None = None


class PreviewScheduleParam(ScheduleSpecParam):
    count: int = Field(default=5, ge=1, le=100, description='How many fire times to list')
    after: IsoDatetime | None = Field(default=None, description='List fire times after this instant (default now)')


class CreateScheduleParam(ScheduleSpecParam):
    name: str = Field(min_length=1, max_length=200)
    task: str = Field(min_length=1, max_length=155, description='A registered task name')
    args: JsonArgs = Field(default_factory=list)
    kwargs: JsonKwargs = Field(default_factory=dict)
    queue: str | None = Field(default=None, max_length=155)
    routing_key: str | None = Field(default=None, max_length=155)
    priority: int | None = Field(default=None, ge=0, le=9)
    expire_seconds: int | None = Field(
        default=None, gt=0, le=PG_INT_MAX, description='Message expires this long after sending'
    )
    enabled: bool = True
    max_runs: int | None = Field(default=None, le=PG_INT_MAX)
    one_off: bool = False
    misfire_policy: MisfirePolicy = 'coalesce'
    misfire_grace_seconds: int = Field(default=60, le=PG_INT_MAX)
    description: str | None = Field(default=None, max_length=1000)


class UpdateScheduleParam(CreateScheduleParam):
    """A full replacement; `version` must be the one read, or the write is refused."""

    version: int


class PatchScheduleParam(BaseModel):
    """The fields given replace the stored ones; `version` must be the one read."""

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=200)
    task: str | None = Field(default=None, min_length=1, max_length=155)
    kind: ScheduleKind | None = None
    interval_every: int | None = Field(default=None, le=PG_INT_MAX)
    interval_period: IntervalPeriod | None = None
    crontab: str | None = Field(default=None, max_length=255)
    clocked_at: IsoDatetime | None = None
    timezone: str | None = Field(default=None, max_length=64)
    start_at: IsoDatetime | None = None
    end_at: IsoDatetime | None = None
    args: JsonArgs | None = None
    kwargs: JsonKwargs | None = None
    queue: str | None = Field(default=None, max_length=155)
    routing_key: str | None = Field(default=None, max_length=155)
    priority: int | None = Field(default=None, ge=0, le=9)
    expire_seconds: int | None = Field(default=None, gt=0, le=PG_INT_MAX)
    enabled: bool | None = None
    max_runs: int | None = Field(default=None, le=PG_INT_MAX)
    one_off: bool | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_grace_seconds: int | None = Field(default=None, le=PG_INT_MAX)
    description: str | None = Field(default=None, max_length=1000)

    @model_validator(mode='after')
    def _no_null_where_a_value_is_needed(self) -> 'PatchScheduleParam':
        nulls = [name for name in NOT_NULL if name in self.model_fields_set and getattr(self, name) is None]
        if nulls:
            raise ValueError(f'{", ".join(nulls)} cannot be null; leave a field out to keep its value')
        return self


#: Patch fields whose column always holds a value (null is "absent" only in the other fields' columns).
NOT_NULL = ('name', 'task', 'kind', 'args', 'kwargs', 'enabled', 'one_off', 'misfire_policy', 'misfire_grace_seconds')


class GetScheduleDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    task: str
    kind: ScheduleKind
    interval_every: int | None
    interval_period: IntervalPeriod | None
    crontab: str | None
    clocked_at: datetime | None
    timezone: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str | None
    routing_key: str | None
    priority: int | None
    expire_seconds: int | None
    enabled: bool
    disabled_reason: str | None = Field(description='Why beat disabled it (it could not be planned or sent)')
    start_at: datetime | None
    end_at: datetime | None
    max_runs: int | None
    one_off: bool
    total_run_count: int
    last_run_at: datetime | None
    next_run_at: datetime | None = Field(description='UTC; null when it will never run again')
    misfire_policy: MisfirePolicy
    misfire_grace_seconds: int
    description: str | None
    source: Literal['api', 'code']
    version: int
    created_at: datetime
    updated_at: datetime

    @model_validator(mode='after')
    def _mask_secrets(self, info: ValidationInfo) -> 'GetScheduleDetail':
        """Stored as given (the worker gets the real values), shown with secret-looking arguments masked.

        Positional arguments are masked by the parameter names of the task in
        the validation context's `app` (the service passes its own); without one
        (FastAPI validating the answer again), in Celery's current app.
        """
        app = (info.context or {}).get('app')
        self.args, self.kwargs = redact_call(task_parameter_names(self.task, app), self.args, self.kwargs)
        return self


class GetScheduleRunDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    schedule_id: int
    scheduled_for: datetime
    trigger: Literal['beat', 'manual']
    task_id: str
    claimed_at: datetime
    dispatched_at: datetime | None = Field(description='Null while the broker has not confirmed the message')
