"""Beat's named queries: raw psycopg on its own connection, in transactions beat opens and commits itself.

No ORM here: beat imports this module and nothing of SQLAlchemy, to stay small.
"""

from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from backend.app.task.crud.sql import query


def mark_beat_transaction(conn: Connection) -> None:
    conn.execute(query('mark_beat_transaction'))


def claim_due_schedules(conn: Connection, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_due_schedules'), {'batch': batch}).fetchall()


def insert_schedule_runs(
    conn: Connection, schedule_ids: list[int], scheduled_for: list[datetime], task_ids: list[str]
) -> list[dict[str, Any]]:
    """The runs actually inserted (a slot already recorded is left out)."""
    params = {'schedule_ids': schedule_ids, 'scheduled_for': scheduled_for, 'task_ids': task_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('insert_schedule_runs'), params).fetchall()


def advance_schedules(
    conn: Connection,
    ids: list[int],
    next_run_at: list[datetime | None],
    runs: list[int],
    enabled: list[bool],
    reasons: list[str | None],
) -> None:
    params = {'ids': ids, 'next_run_at': next_run_at, 'runs': runs, 'enabled': enabled, 'reasons': reasons}
    conn.execute(query('advance_schedules'), params)


def claim_moved_schedules(conn: Connection, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_moved_schedules'), {'batch': batch}).fetchall()


def replan_schedules(
    conn: Connection, ids: list[int], versions: list[int], next_run_at: list[datetime | None], reasons: list[str | None]
) -> None:
    params = {'ids': ids, 'versions': versions, 'next_run_at': next_run_at, 'reasons': reasons}
    conn.execute(query('replan_schedules'), params)


def claim_undispatched_runs(conn: Connection, older_than: float, batch: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('claim_undispatched_runs'), {'older_than': older_than, 'batch': batch}).fetchall()


def mark_runs_dispatched(conn: Connection, ids: list[int]) -> None:
    conn.execute(query('mark_runs_dispatched'), {'ids': ids})


def purge_schedule_runs(conn: Connection, days: int, batch: int) -> int:
    return conn.execute(query('purge_schedule_runs'), {'days': days, 'batch': batch}).rowcount


def next_due_at(conn: Connection) -> datetime | None:
    row = conn.execute(query('next_due_at')).fetchone()
    return row[0] if row else None
