"""What the console's overview shows: outcomes per minute and schedule runs with their task's state."""

from datetime import datetime

from pydantic import BaseModel, Field

from backend.app.task.schema.schedule import GetScheduleRunDetail


class GetMinuteOutcomeDetail(BaseModel):
    minute: datetime = Field(description='Start of the minute (UTC)')
    succeeded: int
    failed: int


class GetRunStateDetail(GetScheduleRunDetail):
    state: str = Field(description="The run's task state; PENDING while no worker has reported")
