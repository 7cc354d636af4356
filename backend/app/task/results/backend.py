"""Celery result backend storing results in PostgreSQL with one prepared statement per call.

Selected by dotted path in `celery.py`; `AsyncResult`, `.get()`, groups, chords,
`get_many`/native joins, revoke and Flower use it like any Celery backend.
Chords count their finished header tasks in `task_chord` with one atomic
statement that records each task id once, so the body is sent once even when
header tasks finish at the same moment on different workers or a counted
header task is delivered again.
"""

import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from celery import states
from celery.backends.base import BaseBackend
from celery.canvas import maybe_signature
from celery.exceptions import BackendGetMetaError, BackendStoreError, ChordError
from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import GroupResult, allow_join_result, result_from_tuple

from backend.app.task.constants import TIME_START
from backend.app.task.crud import crud_result
from backend.app.task.internals import celery_private
from backend.app.task.results.batch import ResultBatch
from backend.app.task.results.relay import ResultRelay
from backend.app.task.results.started import StartedWriter
from backend.app.task.utils.json_safety import check_storable, storable_copy, storable_text
from backend.app.task.utils.pg_connection import ThreadConnection
from backend.app.task.utils.redact import redact_call
from backend.app.task.utils.signature import parameter_names
from backend.core.conf import get_settings

logger = logging.getLogger(__name__)
#: Seconds before the second poll of a wait for results; each later poll waits twice as long, up to the interval.
FIRST_POLL = 0.01


class PostgresBackend(BaseBackend):
    supports_native_join = True

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._connection = ThreadConnection()
        self.result_batch = ResultBatch(get_settings().TASK_RESULT_BATCH, self._store_rows)
        self.result_relay = ResultRelay(self._store_rows)
        self.started_writer = StartedWriter(self._store_started, self.result_row)
        self._extended = bool(self.app.conf.result_extended)  # read once: `result_row` runs per task

    def exception_safe_to_retry(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.OperationalError)

    def on_backend_retryable_error(self, exc: Exception) -> None:
        self._connection.reset()

    def store_result(
        self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None, **kwargs: Any
    ) -> Any:
        if isinstance(result, BackendStoreError):
            # The worker fails this task because its state could not be stored (PostgreSQL down through every
            # retry): storing that fails as well, and a second error would escape Celery's tracer and stop a
            # solo worker. Its message is requeued instead (`BatchedRequest.on_failure`).
            return result
        return super().store_result(task_id, result, state, traceback, request, **kwargs)

    def _store_result(
        self, task_id: str, result: Any, state: str, traceback: str | None = None, request: Any = None, **kwargs: Any
    ) -> Any:
        if state == states.SUCCESS:
            # Raised here, Celery's worker fails the task with this error (a FAILURE row) instead of leaving it PENDING.
            check_storable(result, 'result')
        row = self.result_row(task_id, result, state, traceback, request)
        # A chord header's result must be committed before the chord counter sees it.
        held = state == states.SUCCESS and not getattr(request, 'chord', None)
        if held and (self.result_batch.add(row) or (self._acks_late(request) and self.result_relay.send(row))):
            return result
        self._write([row])
        return result

    def _acks_late(self, request: Any) -> bool:
        """Whether the task's message waits for its outcome: one acknowledged when the task started must have its
        result stored before the child reports it done."""
        task = self.app.tasks.get(getattr(request, 'task', None) or '')
        return bool(task is not None and task.acks_late)

    def _store_rows(self, rows: list[dict[str, Any]]) -> None:
        celery_private.ensure_retryable(self, lambda: self._write(rows))

    def _store_started(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._write(rows)
        except psycopg.OperationalError:
            self._connection.reset()
            raise

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Store rows; if PostgreSQL refuses a value in them (a message's arguments that arrived anyway, an
        exception's text), store them again with those values replaced by their repr rather than lose the state.

        STARTED rows are committed without waiting for the disk (`TASK_TRACK_STARTED` at a fraction of a durable
        write's cost): a crash can lose only that state, of a task whose message is not yet acknowledged, and
        the task's own result is committed durably before its acknowledgement, flushing the STARTED row with it.
        """
        lazy = all(row['status'] == states.STARTED for row in rows)
        try:
            crud_result.store_results(self._connection.get(), rows, lazy_commit=lazy)
        except (psycopg.DataError, UnicodeEncodeError) as error:
            logger.error(
                'task states of %s held values PostgreSQL refuses (%s); stored with their repr',
                [row['task_id'] for row in rows][:10],
                type(error).__name__,
            )
            crud_result.store_results(self._connection.get(), [storable_row(row) for row in rows], lazy_commit=lazy)

    def result_row(self, task_id: str, result: Any, state: str, traceback: str | None, request: Any) -> dict[str, Any]:
        """The `store_results` query's parameters for one (already encoded) task state.

        The fields come straight from the request, as Celery's `_get_result_meta`
        takes them; that method also builds a date (the database sets ours) and
        searches the settings for `result_extended`, which cost more per task than
        the rest of the row.
        """
        children = self.current_task_children(request)
        extended = request if request is not None and self._extended else None
        delivery_info = getattr(extended, 'delivery_info', None)
        time_start = getattr(request, TIME_START, None)
        ready = state in states.READY_STATES
        args, kwargs = self._masked_call(extended)
        return {
            'task_id': task_id,
            'status': state,
            'started': state == states.STARTED,
            'ready': ready,
            'result': self.encode(result),
            'traceback': traceback,
            'children': self.encode(children) if children else None,
            'name': getattr(extended, 'task', None),
            'args': self._encode_optional(args),
            'kwargs': self._encode_optional(kwargs),
            'worker': getattr(extended, 'hostname', None),
            'retries': stored_retries(getattr(extended, 'retries', None)),
            'queue': delivery_info.get('routing_key') if delivery_info else None,
            'runtime': time.monotonic() - time_start if ready and time_start is not None else None,
        }

    def _masked_call(self, request: Any) -> tuple[list | None, dict[str, Any] | None]:
        """The call as stored: secrets masked, since the message (and a dead letter) keeps the real values."""
        args, kwargs = getattr(request, 'args', None), getattr(request, 'kwargs', None)
        if args is None and kwargs is None:
            return None, None
        names = parameter_names(self.app.tasks.get(getattr(request, 'task', None) or ''))
        shown_args, shown_kwargs = redact_call(names, args or [], kwargs or {})
        return (None if args is None else shown_args), (None if kwargs is None else shown_kwargs)

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        try:
            row = self._read_result(task_id)
        except psycopg.OperationalError as error:
            # Its caller waits on it (the API, `fba task status`, `AsyncResult.state`): the outage is reported now,
            # not after the retries with back-off a store gets (Celery does not retry BackendGetMetaError).
            raise BackendGetMetaError('failed to get meta', task_id=task_id) from error
        if row is None:
            return {'status': states.PENDING, 'result': None}
        return self._meta_from_row(task_id, row)

    def _read_result(self, task_id: str) -> dict[str, Any] | None:
        try:
            return crud_result.get_result(self._connection.get(), task_id)
        except psycopg.OperationalError:
            self._connection.reset()  # closed since the last call (a server restart): once more on a new one
        return crud_result.get_result(self._connection.get(), task_id)

    def _meta_from_row(self, task_id: str, row: dict[str, Any]) -> dict[str, Any]:
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

    def get_many(
        self,
        task_ids: Iterable[str],
        timeout: float | None = None,
        interval: float | None = 0.5,
        no_ack: bool = True,
        on_message: Any = None,
        on_interval: Any = None,
        max_iterations: int | None = None,
        READY_STATES: frozenset[str] = states.READY_STATES,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (id, meta) as tasks become ready, polling all pending ids with one query per poll.

        The first polls come FIRST_POLL seconds apart, doubling up to `interval`, so
        a result that is ready soon is seen soon and a long wait still costs one
        query per `interval`.
        """
        interval = 0.5 if interval is None else interval
        pending = set(task_ids)
        cache = celery_private.result_cache(self)
        for task_id in list(pending):
            cached = cache.get(task_id)
            if cached is not None and cached['status'] in READY_STATES:
                pending.discard(task_id)
                yield task_id, cached
        deadline = None if timeout is None else time.monotonic() + timeout
        iterations = 0
        while pending:
            rows = celery_private.ensure_retryable(
                self, lambda: crud_result.get_results(self._connection.get(), list(pending))
            )
            for row in rows:
                if row['status'] not in READY_STATES:
                    continue
                meta = self._meta_from_row(row['task_id'], row)
                cache[row['task_id']] = meta
                pending.discard(row['task_id'])
                if on_message is not None:
                    on_message(meta)
                yield row['task_id'], meta
            if not pending:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(f'Operation timed out ({timeout})')
            if on_interval:
                on_interval()
            iterations += 1
            if max_iterations and iterations >= max_iterations:
                return
            nap = min(interval, FIRST_POLL * 2 ** min(iterations - 1, 20))
            time.sleep(nap if deadline is None else max(0.0, min(nap, deadline - time.monotonic())))

    def wait_for(
        self,
        task_id: str,
        timeout: float | None = None,
        interval: float = 0.5,
        no_ack: bool = True,
        on_interval: Any = None,
    ) -> dict[str, Any]:
        """`AsyncResult.get()`'s wait, through `get_many`: Celery's own loop sleeps a whole `interval` (0.5 s by
        default) before it looks again, which every caller of a quick task would wait for."""
        for _, meta in self.get_many([task_id], timeout=timeout, interval=interval, on_interval=on_interval):
            return meta
        raise ResultTimeout(f'Operation timed out ({timeout})')

    def iter_native(
        self,
        result: Any,
        timeout: float | None = None,
        interval: float | None = 0.5,
        no_ack: bool = True,
        on_message: Any = None,
        on_interval: Any = None,
    ) -> Iterator[tuple[str, Any]]:
        """Celery's native join, re-raising a failed ancestor's error between polls as `AsyncResult.get` does
        (`follow_parents`): a group chained after a task that failed never runs, so waiting would only time out."""
        ancestors = []
        node = getattr(result, 'parent', None)
        while node is not None:
            ancestors.append(node)
            node = node.parent

        def check_ancestors() -> None:
            for ancestor in reversed(ancestors):
                ancestor.maybe_throw()
            if on_interval is not None:
                on_interval()

        yield from super().iter_native(
            result,
            timeout=timeout,
            interval=interval,
            no_ack=no_ack,
            on_message=on_message,
            on_interval=check_ancestors if ancestors else on_interval,
        )

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

    # Chords -------------------------------------------------------------------------------------

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Save the header group and open its counter before any header message is sent."""
        header_result = self.app.GroupResult(*header_result_args)
        header_result.save(backend=self)
        crud_result.start_chord(self._connection.get(), header_result.id)

    def set_chord_size(self, group_id: str, chord_size: int) -> None:
        crud_result.set_chord_size(self._connection.get(), group_id, chord_size)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        """Count one finished header task, once per task id; the task that completed the count sends the body."""
        group_id = getattr(request, 'group', None)
        if not group_id or not getattr(request, 'chord', None):
            return
        # Not retried: the statement is idempotent per task id, but a lost reply is a crash like any other,
        # and the message's redelivery counts (or sends) again.
        counted = crud_result.count_chord_part(self._connection.get(), group_id, request.id)
        if counted is None:
            logger.warning('chord %s: a header task finished after the chord was completed or expired', group_id)
            return
        if counted[2]:
            self._send_chord_body(group_id, maybe_signature(request.chord, app=self.app))

    def _send_chord_body(self, group_id: str, body: Any) -> None:
        """Join the header and send the body, then mark it sent.

        Marked only after publishing: a last header task that dies in between is
        redelivered and sends the body again, under the same (frozen) task id, so
        the result store keeps one result. A failed header task fails the body with
        that task's own exception, which is what the caller gets from `get()`.
        """
        try:
            try:
                values = self._join_header(group_id)
            except Exception as exc:
                logger.error('chord %s failed: a header task raised %r', group_id, exc)
                self.chord_error_from_stack(body, exc)
                return
            try:
                body.delay(values)
            except Exception as exc:
                logger.error('chord %s failed: its body could not be sent: %r', group_id, exc)
                self.chord_error_from_stack(body, ChordError(f'Callback error: {exc!r}'))
        finally:
            crud_result.mark_chord_body_sent(self._connection.get(), group_id)
            crud_result.delete_group(self._connection.get(), group_id)

    def _join_header(self, group_id: str) -> list[Any]:
        header = GroupResult.restore(group_id, backend=self)
        if header is None:
            raise ChordError(f'GroupResult {group_id} no longer exists')
        with allow_join_result():
            return header.join_native(timeout=self.app.conf.result_chord_join_timeout, propagate=True)

    # Expiry -------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Called by the periodic `celery.backend_cleanup` task: drop expired results, groups and chords."""
        if self.expires:
            crud_result.purge_expired_results(self._connection.get(), int(self.expires))

    def _encode_optional(self, value: Any) -> str | None:
        return None if value is None else self.encode(value)

    def _decode_optional(self, text: str | None) -> Any:
        return None if text is None else self.decode(text)


#: Largest value of the `retries` column (PostgreSQL `integer`).
MAX_RETRIES_STORED = 2**31 - 1


def stored_retries(value: Any) -> int | None:
    """The `retries` column's value: a message published by other code may carry any JSON there, and a result must
    not become unstorable for it (None when it is not a count PostgreSQL's `integer` holds)."""
    if type(value) is int and 0 <= value <= MAX_RETRIES_STORED:
        return value
    return None


#: Columns of a result row holding JSON text, and holding plain text.
JSON_COLUMNS = ('result', 'children', 'args', 'kwargs')
TEXT_COLUMNS = ('task_id', 'traceback', 'name', 'worker', 'queue')


def storable_row(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every value PostgreSQL refuses (NaN, NUL, a lone surrogate) replaced by its repr."""
    fixed = dict(row)
    for key in JSON_COLUMNS:
        if row[key] is not None:
            fixed[key] = json.dumps(storable_copy(json.loads(row[key])))
    for key in TEXT_COLUMNS:
        if row[key] is not None:
            fixed[key] = storable_text(row[key])
    return fixed
