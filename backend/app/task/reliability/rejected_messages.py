"""The worker consumer, extended to put the messages it refuses into the dead-letter store.

A message naming no registered task, or one whose body cannot be decoded (bad
JSON, a refused content type such as pickle), never reaches a task, so no hook
sees it. Celery acknowledges or rejects such a message so it cannot loop; this
consumer records it first, tells the batched acknowledgements it is settled
(see `results.batch.settled_by_consumer`), and the worker goes on with the next
message.

On Redis its connection also fetches many messages per round trip (`redis_fetch`).
"""

import logging
from typing import Any

from celery.worker.consumer import Consumer
from kombu.message import Message

from backend.app.task.messaging import redis_fetch
from backend.app.task.reliability import dead_letters
from backend.app.task.results.batch import settled_by_consumer

logger = logging.getLogger(__name__)


class DeadLetterConsumer(Consumer):
    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        connection = self.app.connection_for_read(heartbeat=heartbeat)
        redis_fetch.install(connection)
        return self.ensure_connected(connection)

    def on_unknown_task(self, body: Any, message: Message, exc: BaseException) -> None:
        self._record(message, 'unknown_task', exc)
        super().on_unknown_task(body, message, exc)
        settled_by_consumer(self.app, message)

    def on_invalid_task(self, body: Any, message: Message, exc: BaseException) -> None:
        self._record(message, 'undecodable', exc)
        super().on_invalid_task(body, message, exc)
        settled_by_consumer(self.app, message)

    def on_unknown_message(self, body: Any, message: Message) -> None:
        self._record(message, 'undecodable', None)
        super().on_unknown_message(body, message)
        settled_by_consumer(self.app, message)

    def on_decode_error(self, message: Message, exc: BaseException) -> None:
        self._record(message, 'undecodable', exc)
        super().on_decode_error(message, exc)
        settled_by_consumer(self.app, message)

    def _record(self, message: Message, reason: str, exc: BaseException | None) -> None:
        try:
            self._record_message(message, reason, exc)
        except Exception:
            # Recording is best effort here: the consumer must go on with the next message.
            logger.critical(
                'event=dead_letter.lost reason=%s: could not record a refused message', reason, exc_info=True
            )

    def _record_message(self, message: Message, reason: str, exc: BaseException | None) -> None:
        headers = message.headers or {}
        args = kwargs = body = None
        try:
            args, kwargs, _ = message.decode()
        except Exception:
            raw = message.body
            body = raw.decode('utf-8', errors='backslashreplace') if isinstance(raw, bytes) else str(raw)
        dead_letters.record(
            reason=reason,
            task_id=headers.get('id'),
            task_name=headers.get('task'),
            args=args,
            kwargs=kwargs,
            queue=(message.delivery_info or {}).get('routing_key'),
            exc=exc,
            body=body,
            worker=self.hostname,
        )
