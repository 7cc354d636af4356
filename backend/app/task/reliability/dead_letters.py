"""Writing one dead letter from wherever a task fails for good: a pool child, the worker's parent process
(hard time limits) or its consumer (refused messages). Broker-independent: only PostgreSQL is involved."""

import json
import logging
import traceback as tb
from typing import Any

import psycopg

from backend.app.task.crud import crud_dead_letter
from backend.app.task.utils.json_safety import storable_copy, storable_text
from backend.app.task.utils.pg_connection import ThreadConnection

logger = logging.getLogger(__name__)

#: Traceback frames kept (the innermost ones) and characters kept of a refused message's body.
MAX_FRAMES = 30
MAX_BODY_CHARS = 65_536
_connection = ThreadConnection()


def as_json(value: Any) -> str | None:
    """JSONB text; a value JSON or JSONB cannot hold (an object, NaN, NUL, a lone surrogate) is kept as its repr."""
    return None if value is None else json.dumps(storable_copy(value), default=repr)


def as_text(value: str | None, limit: int) -> str | None:
    """At most `limit` characters, with NUL and lone surrogates (which PostgreSQL text refuses) spelled out."""
    return None if value is None else storable_text(value[:limit])[:limit]


def short_traceback(exc: BaseException | None, fallback: str | None = None) -> str | None:
    if exc is None or exc.__traceback__ is None:
        return fallback
    return ''.join(tb.format_exception(type(exc), exc, exc.__traceback__, limit=-MAX_FRAMES))


def record(
    *,
    reason: str,
    task_id: str | None,
    task_name: str | None,
    args: Any = None,
    kwargs: Any = None,
    queue: str | None = None,
    exc: BaseException | None = None,
    traceback: str | None = None,
    body: str | None = None,
    retries: int = 0,
    worker: str | None = None,
) -> int | None:
    """Insert (or update) the task's row; returns its id, or None after logging if PostgreSQL stays down."""
    params = {
        'task_id': as_text(task_id, 155),
        'task_name': as_text(task_name, 155),
        'args': as_json(args),
        'kwargs': as_json(kwargs),
        'queue': as_text(queue, 155),
        'reason': reason,
        'exception_type': type(exc).__name__ if exc is not None else None,
        'exception_message': as_text(str(exc), 10_000) if exc is not None else None,
        'traceback': as_text(short_traceback(exc, traceback), 100_000),
        'body': as_text(body, MAX_BODY_CHARS),
        'retries': retries,
        'worker': as_text(worker, 155),
    }
    for attempt in (1, 2):
        try:
            return crud_dead_letter.insert_dead_letter(_connection.get(), params)
        except psycopg.OperationalError:
            _connection.reset()  # a restarted server: one more try on a new connection
            if attempt == 1:
                continue
        except psycopg.Error:
            pass
        # Failing here must not take the worker down with it: say loudly what was not stored.
        logger.critical(
            'event=dead_letter.lost task=%s id=%s reason=%s: PostgreSQL did not take the dead letter',
            task_name,
            task_id,
            reason,
            exc_info=True,
            extra={'action': 'dead_letter.lost', 'task_name': task_name, 'task_id': task_id},
        )
        break
    return None
