"""Dead letters as the API and `fba dlq` show them (arguments redacted) and the filters that select them."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

DeadLetterReason = Literal[
    'retries_exhausted', 'non_retryable', 'time_limit', 'worker_lost', 'unknown_task', 'undecodable', 'unstorable'
]


class DeadLetterFilter(BaseModel):
    """Every field left unset matches everything; set fields must all match."""

    task_name: str | None = Field(default=None, max_length=155, description='Exact task name')
    reason: DeadLetterReason | None = Field(default=None, description='How the task got here')
    exception_type: str | None = Field(default=None, max_length=255, description='Exception class name, e.g. KeyError')
    failed_after: datetime | None = Field(default=None, description='Last failure at or after this time')
    failed_before: datetime | None = Field(default=None, description='Last failure before this time')

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)


class GetDeadLetterDetail(BaseModel):
    id: int
    task_id: str | None
    task_name: str | None
    args: Any = Field(description='Positional arguments, secret-looking values masked')
    kwargs: Any = Field(description='Keyword arguments, secret-looking values masked')
    queue: str | None
    reason: DeadLetterReason
    exception_type: str | None
    exception_message: str | None
    traceback: str | None
    body: str | None = Field(description='Body of a message the worker could not decode (secret-looking JSON masked)')
    retries: int
    failures: int = Field(description='Times this task id failed for good')
    worker: str | None
    first_failed_at: datetime
    last_failed_at: datetime
    requeued_task_id: str | None = Field(description='Id of the task sent again by the last requeue')
    requeued_at: datetime | None
