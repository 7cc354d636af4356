"""Result rows, through the named queries: one statement per call, no ORM on the hot path."""

from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from backend.app.task.crud.sql import query


def store_result(conn: Connection, params: dict[str, Any]) -> None:
    conn.execute(query('store_result'), params)


def get_result(conn: Connection, task_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query('get_result'), {'task_id': task_id}).fetchone()


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
    return conn.execute(query('purge_expired_results'), {'expires': expires_seconds}).rowcount
