"""Shapes every resource shares: a page of a list, bounded JSON arguments, the error envelope."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError

from backend.app.task.constants import API_JSON_MAX_BYTES, API_JSON_MAX_DEPTH

T = TypeVar('T')


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def bounded_json(value: Any) -> Any:
    """Refuse arguments nested or sized beyond what a task message should carry."""
    if _depth(value) > API_JSON_MAX_DEPTH:
        raise ValueError(f'is nested deeper than {API_JSON_MAX_DEPTH} levels')
    if len(json.dumps(value, separators=(',', ':'))) > API_JSON_MAX_BYTES:
        raise ValueError(f'is larger than {API_JSON_MAX_BYTES} bytes as JSON')
    return value


def validation_sentence(error: ValidationError) -> str:
    """Each failed field of a pydantic error as `field: reason`, for a one-sentence message."""
    return '; '.join(f'{".".join(map(str, e["loc"]))}: {e["msg"]}' for e in error.errors())


def _iso_only(value: Any) -> Any:
    """Pydantic also reads numbers (and numeric strings) as Unix times; an API date must be ISO 8601."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip('+-').replace('.', '', 1).isdigit()
    ):
        raise ValueError('must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z')
    return value


def _within_utc(value: datetime) -> datetime:
    """An offset that moves the instant past year 1 or 9999 in UTC could not be stored (PostgreSQL stores UTC)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError('is outside the years 1-9999 once converted to UTC') from None
    return value


#: A date-time given as ISO 8601 text (never a Unix number), within the years 1-9999 in UTC.
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_within_utc)]

JsonArgs = Annotated[list[Any], AfterValidator(bounded_json), Field(description='Positional arguments')]
JsonKwargs = Annotated[dict[str, Any], AfterValidator(bounded_json), Field(description='Keyword arguments')]


class PageDetail(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description='Rows matching the filters, over all pages')
    limit: int
    offset: int


class ErrorDetail(BaseModel):
    """Every error answer: `code` repeats the HTTP status, `msg` is one sentence, `data` the details if any."""

    code: int
    msg: str
    data: Any = None
