"""What a pool child hands to the main process (`results/relay.py`), and what it keeps to store itself: a real socket
pair and a real forked child."""

import json
import os
from typing import Any

from backend.app.task.results.relay import MAX_KEY_LENGTH, MAX_ROW_BYTES, ResultRelay


def row(**changes: Any) -> dict[str, Any]:
    return {'task_id': 'a-task', 'name': 'task.ping', 'worker': 'w@host', 'queue': 'default', 'result': '"pong"'} | (
        changes
    )


def sent_from_a_child(relay: ResultRelay, rows: list[dict[str, Any]]) -> list[bool]:
    """`relay.send` of each row, called in a forked child as a pool child would."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, json.dumps([relay.send(each) for each in rows]).encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(read_end, 'rb') as answer:
        return list(json.loads(answer.read()))


def test_a_child_hands_over_rows_postgresql_takes_and_keeps_the_rest_to_store_itself() -> None:
    relay = ResultRelay(commit=lambda rows: None)
    relay.open()
    # The main process itself (a task run there) stores its own rows
    assert relay.send(row()) is False
    # A child hands over an ordinary row, and keeps one with a key PostgreSQL's column cannot hold (a message
    # published by other code: too long, or not text), and one too big for a datagram
    too_long = 'x' * (MAX_KEY_LENGTH + 1)
    assert sent_from_a_child(
        relay,
        [
            row(),
            row(task_id=too_long),
            row(name=too_long),
            row(task_id=12345),
            row(queue={'a': 1}),
            row(result=json.dumps('y' * MAX_ROW_BYTES)),
        ],
    ) == [True, False, False, False, False, False]


def test_a_relay_never_opened_hands_nothing_over() -> None:
    # A solo or threads worker, or a process that is no worker: every row is stored where it was made
    assert sent_from_a_child(ResultRelay(commit=lambda rows: None), [row()]) == [False]
