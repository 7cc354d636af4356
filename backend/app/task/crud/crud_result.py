"""Result rows, through the named queries: one statement per call, no ORM on the hot path."""

import json
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from backend.app.task.crud.sql import query
from backend.app.task.model.delivery import TASK_ID_LENGTH
from backend.app.task.utils.json_safety import find_poison


def get_result(conn: Connection, task_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('get_result'), {'task_id': task_id}).fetchone()


def task_id_known(conn: Connection, task_id: str) -> bool:
    row = conn.execute(query('task_id_known'), {'task_id': task_id}).fetchone()
    return bool(row and row[0])


def forget_result(conn: Connection, task_id: str) -> None:
    conn.execute(query('forget_result'), {'task_id': task_id})


def save_group(conn: Connection, group_id: str, encoded: str) -> None:
    conn.execute(query('save_group'), {'group_id': group_id, 'result': encoded})


def get_group(conn: Connection, group_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('get_group'), {'group_id': group_id}).fetchone()


def delete_group(conn: Connection, group_id: str) -> None:
    conn.execute(query('delete_group'), {'group_id': group_id})


def purge_expired_results(conn: Connection, expires_seconds: int) -> int:
    conn.execute(query('purge_expired_deliveries'), {'expires': expires_seconds})
    return conn.execute(query('purge_expired_results'), {'expires': expires_seconds}).rowcount


def count_delivery(conn: Connection, task_id: str) -> int:
    """Count one more delivery of a redelivered message; how many there were in all."""
    row = conn.execute(query('count_delivery'), {'task_id': task_id}).fetchone()
    assert row is not None
    return int(row[0])


def credit_released(conn: Connection, task_ids: list[str]) -> None:
    """First deliveries given back unstarted: the next start of each is its first delivery, not its second.

    An id the counter cannot hold (a NUL or lone surrogate, which `TaskBase.before_start` refuses before counting;
    longer than the column, which `count_delivery` cannot store) is never counted, so it needs no credit.
    """
    countable = [task_id for task_id in task_ids if len(task_id) <= TASK_ID_LENGTH and find_poison(task_id) is None]
    if countable:
        conn.execute(query('credit_released'), {'task_ids': countable})


def store_results(conn: Connection, params: list[dict[str, Any]], *, lazy_commit: bool = False) -> None:
    """Task states in one statement (one round trip, one transaction); a task's first row wins.

    First wins as the query never replaces a stored SUCCESS: a batch of several
    holds successes only, and one task twice means a redelivered message.
    `lazy_commit`: return before the commit is on disk (only for states a crash may lose, such as STARTED).
    """
    if not params:
        return
    rows: dict[str, dict[str, Any]] = {}
    for row in params:
        rows.setdefault(row['task_id'], row)
    conn.execute(query('store_results'), {'rows': json.dumps(list(rows.values())), 'lazy_commit': lazy_commit})


def get_results(conn: Connection, task_ids: list[str]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('get_results'), {'task_ids': task_ids}).fetchall()


def start_chord(conn: Connection, group_id: str) -> None:
    conn.execute(query('start_chord'), {'group_id': group_id})


def set_chord_size(conn: Connection, group_id: str, size: int) -> None:
    conn.execute(query('set_chord_size'), {'group_id': group_id, 'size': size})


def count_chord_part(conn: Connection, group_id: str, task_id: str) -> tuple[int, int | None, bool] | None:
    """Count one finished header task once: (done, size, whether this task sends the body), None for an unknown
    chord. A task id counted before (a redelivered copy) leaves `done` as it was."""
    row = conn.execute(query('count_chord_part'), {'group_id': group_id, 'task_id': task_id}).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def mark_chord_body_sent(conn: Connection, group_id: str) -> None:
    conn.execute(query('mark_chord_body_sent'), {'group_id': group_id})
