"""Aggregates for the web console: task outcomes per minute, and schedule runs joined to their task's state.

Reads only; functions take the caller's session and never commit.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from celery import states
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.crud import crud_overview
from backend.app.task.schema.overview import GetMinuteOutcomeDetail, GetRunStateDetail
from backend.app.task.schema.schedule import GetScheduleRunDetail
from backend.app.task.service import schedule_service


async def outcomes_per_minute(*, db: AsyncSession, minutes: int = 60) -> list[GetMinuteOutcomeDetail]:
    """Succeeded and failed runs in each of the last `minutes` minutes, oldest first, empty minutes included."""
    this_minute = datetime.now(UTC).replace(second=0, microsecond=0)
    first = this_minute - timedelta(minutes=minutes - 1)
    counts = await crud_overview.outcomes_per_minute(db, since=first, statuses=(states.SUCCESS, states.FAILURE))
    by_minute = {(minute.astimezone(UTC), status): runs for minute, status, runs in counts}
    slots = [first + timedelta(minutes=i) for i in range(minutes)]
    return [
        GetMinuteOutcomeDetail(
            minute=slot,
            succeeded=by_minute.get((slot, states.SUCCESS), 0),
            failed=by_minute.get((slot, states.FAILURE), 0),
        )
        for slot in slots
    ]


async def _with_states(db: AsyncSession, runs: Sequence[GetScheduleRunDetail]) -> list[GetRunStateDetail]:
    found = await crud_overview.states_of(db, [run.task_id for run in runs])
    return [GetRunStateDetail(**run.model_dump(), state=found.get(run.task_id, states.PENDING)) for run in runs]


async def runs_with_states(
    *, db: AsyncSession, pk: int, limit: int, offset: int
) -> tuple[list[GetRunStateDetail], int]:
    """A schedule's runs, newest first, each with its task's state."""
    runs, total = await schedule_service.get_runs(db=db, pk=pk, limit=limit, offset=offset)
    return await _with_states(db, runs), total


async def last_outcomes(*, db: AsyncSession, schedule_ids: Sequence[int]) -> dict[int, GetRunStateDetail]:
    """The newest run of each schedule with its task's state (schedules never run are left out)."""
    latest = await crud_overview.latest_runs(db, schedule_ids)
    shown = await _with_states(db, [GetScheduleRunDetail.model_validate(run) for run in latest.values()])
    return {run.schedule_id: run for run in shown}
