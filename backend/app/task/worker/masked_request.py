"""The worker's request: what it tells events (Flower) and `celery inspect` about a call and its result is masked.

The arguments already travel masked in the message headers; this covers what
the worker adds: the result's repr in `task-succeeded` events, and the
decoded arguments `celery inspect active|reserved|scheduled` would show
(they show the masked headers instead).
"""

import functools
from typing import Any

from celery.events.event import group_from
from celery.worker.request import Request
from kombu.utils.imports import symbol_by_name

from backend.app.task.results.batch import BatchedRequest
from backend.app.task.utils.redact import redact_repr
from backend.app.task.worker.look_ahead import LookAheadRequest


class MaskedRequest(LookAheadRequest, BatchedRequest):
    def send_event(self, type: str, **fields: Any) -> None:
        # Masked only when the event goes out (Celery's own checks): parsing the repr is the costly part.
        eventer = self.eventer
        if not (eventer and eventer.enabled and self.task.send_events):
            return
        if eventer.groups and group_from(type) not in eventer.groups:
            return
        if 'result' in fields:
            fields['result'] = redact_repr(fields['result'])
        super().send_event(type, **fields)

    def info(self, safe: bool = False) -> dict[str, Any]:
        return super().info(safe=True)


@functools.cache
def with_masking(request: str | type[Request]) -> type[Request]:
    """`request` (a task's own class or its import path) with `MaskedRequest` between it and Celery's `Request`."""
    cls: type[Request] = symbol_by_name(request)
    if issubclass(cls, MaskedRequest):
        return cls
    return type(cls.__name__, (cls, MaskedRequest), {'__module__': cls.__module__, '__doc__': cls.__doc__})
