"""Celery result backend storing results in PostgreSQL with one prepared statement per call.

Selected by dotted path in `celery.py`; `AsyncResult`, `.get()`, groups, revoke
and Flower use it like any Celery backend. Only Celery's storage hooks are
implemented; everything else is inherited.
"""

from typing import Any

import psycopg
from celery import states
from celery.backends.base import BaseBackend
from celery.result import GroupResult, result_from_tuple

from backend.app.task.crud import crud_result
from backend.app.task.utils.pg_connection import ThreadConnection


class PostgresBackend(BaseBackend):
    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._connection = ThreadConnection()

    def exception_safe_to_retry(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.OperationalError)

    def on_backend_retryable_error(self, exc: Exception) -> None:
        self._connection.reset()

    def _store_result(
        self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None, **kwargs: Any
    ) -> Any:
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        crud_result.store_result(
            self._connection.get(),
            {
                'task_id': task_id,
                'status': state,
                'started': state == states.STARTED,
                'ready': state in states.READY_STATES,
                'result': self.encode(meta['result']),
                'traceback': traceback,
                'children': self.encode(meta['children']) if meta['children'] else None,
                'name': meta.get('name'),
                'args': self._encode_optional(meta.get('args')),
                'kwargs': self._encode_optional(meta.get('kwargs')),
                'worker': meta.get('worker'),
                'retries': meta.get('retries'),
                'queue': meta.get('queue'),
            },
        )
        return result

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        row = crud_result.get_result(self._connection.get(), task_id)
        if row is None:
            return {'status': states.PENDING, 'result': None}
        meta = {
            'task_id': task_id,
            'status': row['status'],
            'result': self.decode(row['result']),
            'traceback': row['traceback'],
            'children': self.decode(row['children']) if row['children'] else [],
            'date_done': row['date_done'],
            'name': row['name'],
            'args': self._decode_optional(row['args']),
            'kwargs': self._decode_optional(row['kwargs']),
            'worker': row['worker'],
            'retries': row['retries'],
            'queue': row['queue'],
        }
        return self.meta_from_decoded(meta)

    def _forget(self, task_id: str) -> None:
        crud_result.forget_result(self._connection.get(), task_id)

    def _save_group(self, group_id: str, result: GroupResult) -> GroupResult:
        crud_result.save_group(self._connection.get(), group_id, self.encode(result.as_tuple()))
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        row = crud_result.get_group(self._connection.get(), group_id)
        if row is None:
            return None
        return {'result': result_from_tuple(self.decode(row['result']), self.app), 'date_done': row['date_done']}

    def _delete_group(self, group_id: str) -> None:
        crud_result.delete_group(self._connection.get(), group_id)

    def cleanup(self) -> None:
        """Called by the periodic `celery.backend_cleanup` task: drop expired results."""
        if self.expires:
            crud_result.purge_expired_results(self._connection.get(), int(self.expires))

    def _encode_optional(self, value: Any) -> str | None:
        return None if value is None else self.encode(value)

    def _decode_optional(self, text: str | None) -> Any:
        return None if text is None else self.decode(text)
