"""Masks the `argsrepr`/`kwargsrepr` headers of every task message, whoever sends it.

Celery copies these headers into worker logs, `task-received` events (Flower's
pages, its `/api/tasks` and state file) and `celery inspect` answers; the
message body keeps the real arguments for the worker. A `before_task_publish`
receiver sees every message sent through Celery: `send_task`, `delay`,
`apply_async`, retries, canvas parts, chord bodies. `dispatch.publish_many`
(batches and beat) builds its headers itself with the same `call_reprs`.
"""

from typing import Any

from celery import Celery, current_app

from backend.app.task.utils.redact import call_reprs
from backend.app.task.utils.signature import parameter_names


def task_parameter_names(name: str | None, app: Celery | None = None) -> list[str] | None:
    """The parameter names of a task registered in `app` (default: the current one); None when it is not (beat)."""
    return parameter_names((app or current_app).tasks.get(name) if name else None)


def mask_call_headers(
    sender: str | None = None, body: Any = None, headers: dict[str, Any] | None = None, **_: Any
) -> None:
    """Replace Celery's `argsrepr`/`kwargsrepr` (plain reprs) with masked ones, in the headers about to be sent."""
    if headers is None or not isinstance(body, tuple | list) or len(body) < 2:
        return  # a batch's shared headers (publish_many masks each call) or a message of another protocol
    args, kwargs = body[0] or (), body[1] or {}
    headers['argsrepr'], headers['kwargsrepr'] = call_reprs(
        task_parameter_names(headers.get('task') or sender), args, kwargs
    )
