"""Beat as users start it (a subprocess of the real command), and a probe that reads what it publishes."""

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from tests.support.processes import Spawned, spawn
from tests.support.worker import CELERY_APP

#: A beat subprocess: the generic process handle (log, stop, kill -9).
BeatProcess = Spawned


def start_beat(extra_env: dict[str, str] | None = None, argv: list[str] | None = None) -> BeatProcess:
    """`celery -A backend.app.task.celery:celery_app beat` (or `argv`), in its own process group."""
    command = argv or [sys.executable, '-m', 'celery', '-A', CELERY_APP, 'beat', '--loglevel=INFO']
    return spawn('beat', command, env={**os.environ, **(extra_env or {})})


@dataclass
class Published:
    task_id: str
    task: str
    received: float


@dataclass
class QueueProbe:
    """Reads (and removes) the task messages on one queue, declared exactly as Celery declares it."""

    app: Celery
    name: str
    messages: list[Published] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._conn = self.app.connection_for_read()
        self._queue: Any = self.app.amqp.queues[self.name](self._conn.default_channel)
        self._queue.declare()

    def drain(self) -> list[Published]:
        while (message := self._queue.get(no_ack=True)) is not None:
            self.messages.append(Published(message.headers['id'], message.headers['task'], time.time()))
        return self.messages

    def count(self) -> int:
        """Messages waiting in the queue (one round trip; nothing is read)."""
        return int(self._queue.queue_declare(passive=True).message_count)

    def ids(self) -> list[str]:
        return [m.task_id for m in self.drain()]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._queue.delete()
        self._conn.release()
