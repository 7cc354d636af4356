"""Helpers of the reliability tests: the log table the test tasks write, and reading it back."""

from collections import Counter
from typing import Any

import psycopg
from kombu import Exchange, Producer

from tests.support.reliability_tasks import LOG_TABLE

INCLUDE = ['--include', 'tests.support.reliability_tasks']


def create_log_table(conn: psycopg.Connection) -> None:
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS {LOG_TABLE} (id bigserial PRIMARY KEY, run text NOT NULL, task_id text, '
        'value text, pid int, at timestamptz NOT NULL DEFAULT clock_timestamp())'
    )


def runs_per_task(conn: psycopg.Connection, run: str) -> Counter[str]:
    rows = conn.execute(f'SELECT task_id FROM {LOG_TABLE} WHERE run = %s', [run]).fetchall()
    return Counter(row[0] for row in rows)


def logged(conn: psycopg.Connection, run: str) -> list[tuple[str, str, int, float]]:
    """(task_id, value, pid, epoch seconds) in the order they were written."""
    return conn.execute(
        f'SELECT task_id, value, pid, extract(epoch FROM at)::float FROM {LOG_TABLE} WHERE run = %s ORDER BY id',
        [run],
    ).fetchall()


def dead_letter(conn: psycopg.Connection, task_id: str) -> dict | None:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute('SELECT * FROM task_dead_letter WHERE task_id = %s', [task_id]).fetchone()


def publish_raw(app: Any, queue: str, body: bytes, content_type: str, *headers: dict[str, Any]) -> None:
    """Publish a message per `headers` as code that bypasses the framework would (no checks), on one connection (so
    they arrive together), declaring the queue as Celery does."""
    with app.connection_for_write() as conn:
        producer = Producer(conn)
        for one in headers:
            producer.publish(
                body,
                exchange=Exchange(''),
                routing_key=queue,
                content_type=content_type,
                content_encoding='utf-8',
                headers={'lang': 'py', 'argsrepr': '()', 'kwargsrepr': '{}', **one},
                declare=[app.amqp.queues[queue]],
            )
