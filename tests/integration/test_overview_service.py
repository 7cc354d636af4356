"""The console's overview reads on the real PostgreSQL: outcomes per minute, and runs joined to task states."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app.task.schema.overview import GetMinuteOutcomeDetail
from backend.app.task.service import overview_service


def add_result(pg: psycopg.Connection, status: str, done: datetime) -> str:
    task_id = str(uuid.uuid4())
    pg.execute(
        'INSERT INTO task_result (task_id, status, name, date_done) VALUES (%s, %s, %s, %s)',
        (task_id, status, 'task.ping', done),
    )
    return task_id


def by_minute(outcomes: list[GetMinuteOutcomeDetail]) -> dict[datetime, tuple[int, int]]:
    return {o.minute: (o.succeeded, o.failed) for o in outcomes}


async def test_outcomes_per_minute_counts_each_minute_of_the_last_hour(
    db: AsyncSession, pg: psycopg.Connection
) -> None:
    # Given: the counts so far (other tests of the run store results too)
    before = by_minute(await overview_service.outcomes_per_minute(db=db))
    now = datetime.now(UTC)
    three_ago = (now - timedelta(minutes=3)).replace(second=0, microsecond=0)
    # When: two successes three minutes ago, one failure now, and one success before the window
    add_result(pg, 'SUCCESS', three_ago + timedelta(seconds=5))
    add_result(pg, 'SUCCESS', three_ago + timedelta(seconds=50))
    add_result(pg, 'FAILURE', now)
    add_result(pg, 'SUCCESS', now - timedelta(minutes=90))
    add_result(pg, 'STARTED', now)
    outcomes = await overview_service.outcomes_per_minute(db=db)
    # Then: sixty minutes, oldest first, and exactly the new rows counted in their minutes
    assert len(outcomes) == 60
    assert [o.minute for o in outcomes] == sorted(o.minute for o in outcomes)
    assert outcomes[-1].minute >= now.replace(second=0, microsecond=0)
    after = by_minute(outcomes)
    deltas = {
        minute: (s - before.get(minute, (0, 0))[0], f - before.get(minute, (0, 0))[1])
        for minute, (s, f) in after.items()
    }
    assert deltas[three_ago] == (2, 0)
    assert sum(s for s, _ in deltas.values()) == 2
    assert sum(f for _, f in deltas.values()) == 1


async def test_runs_and_last_outcomes_carry_the_task_state(db: AsyncSession, pg: psycopg.Connection) -> None:
    pg.execute('DELETE FROM task_schedule')
    schedule = pg.execute(
        'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone) '
        "VALUES ('overview', 'task.ping', 'interval', 60, 'seconds', 'UTC') RETURNING id"
    ).fetchone()
    assert schedule is not None
    pk = int(schedule[0])
    now = datetime.now(UTC)
    done = add_result(pg, 'SUCCESS', now)
    for offset, task_id in ((2, done), (1, f'{pk}:not-reported')):
        pg.execute(
            'INSERT INTO task_schedule_run (schedule_id, scheduled_for, trigger, task_id) VALUES (%s, %s, %s, %s)',
            (pk, now - timedelta(minutes=offset), 'beat', task_id),
        )
    runs, total = await overview_service.runs_with_states(db=db, pk=pk, limit=10, offset=0)
    assert total == 2 and [(run.task_id, run.state) for run in runs] == [
        (f'{pk}:not-reported', 'PENDING'),
        (done, 'SUCCESS'),
    ]
    last = await overview_service.last_outcomes(db=db, schedule_ids=[pk, 999_999_999])
    assert list(last) == [pk] and last[pk].state == 'PENDING'
    pg.execute('DELETE FROM task_schedule')
