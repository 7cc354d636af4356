"""What a drained queue left behind: the SUCCESS rows of some tasks, and the messages still ready in a queue."""

from typing import Any

import psycopg


def succeeded(pg: psycopg.Connection, ids: list[str]) -> tuple[int, int]:
    """(rows of `ids` stored as SUCCESS, transactions that stored them): the rows of one commit share its `now()`."""
    row = pg.execute(
        "SELECT count(*), count(DISTINCT date_done) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'",
        [ids],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def ready_in(app: Any, queue: str) -> int:
    """Messages ready in `queue` (declared, not passively: Redis has no empty queue to find)."""
    with app.connection_for_read() as conn:
        return int(app.amqp.queues[queue](conn.default_channel).queue_declare().message_count)
