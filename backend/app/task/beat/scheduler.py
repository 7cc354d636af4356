"""`DatabaseScheduler`: Celery beat reading due schedules from PostgreSQL, O(due) per tick.

Each tick claims due rows in one transaction (FOR UPDATE SKIP LOCKED, a unique
run row per slot, next_run_at advanced), commits, then publishes every claimed
slot with a task id derived from (schedule, slot). Several beats can run at once:
a row is claimed by one of them and a slot is recorded once. Between ticks beat
sleeps until the earliest next_run_at, or until the schedule trigger's NOTIFY
wakes it; a slow safety poll re-plans rows edited behind its back (their version
moved), re-sends slots whose beat died between commit and publish, and deletes
old sent runs. Beat never imports task code: a child process syncs the code
schedules and lists the registered tasks while the first ticks run
(`beat/startup.py`).

A row that cannot be planned or sent (garbage edited in SQL) is disabled with
its reason in `disabled_reason`; every other row goes on. Only a database out
of reach is waited for; anything else (a missing table, a bug) stops beat with
one sentence and exit code 1, since retrying would fail the same way forever.
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from celery.beat import Scheduler

from backend.app.task.beat.startup import BeatSetup
from backend.app.task.crud import crud_beat
from backend.app.task.errors import InvalidSchedule, TaskError
from backend.app.task.messaging.dispatch import publish_each
from backend.app.task.messaging.errors import BrokerUnavailable
from backend.app.task.scheduling.plan import Timing, check_send_fields, plan_claim, send_options, slot_task_id
from backend.core.conf import DATABASE_CONNECT_TIMEOUT, get_settings

logger = logging.getLogger(__name__)
CHANNEL = 'fba_task_schedule_v1'
STARTUP_WAIT = 0.1


class Listener:
    """LISTEN on its own autocommit connection; reconnects after any connection error.

    Without a dsn (PgBouncer and no direct address to PostgreSQL) it only waits: beat then finds changes
    by its poll, every `TASK_BEAT_MAX_LOOP_INTERVAL` seconds at most.
    """

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection | None = None

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s; True when woken by a change (or reconnected, so changes may be missed)."""
        if self.dsn is None:
            time.sleep(timeout)
            return False
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=DATABASE_CONNECT_TIMEOUT)
                self.conn.execute(f'LISTEN {CHANNEL}')
                logger.info('beat: listening on %s', CHANNEL, extra={'action': 'beat.listen'})
                return True
            woken = any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))
            if woken:
                for _ in self.conn.notifies(timeout=0):  # drain the rest of the burst
                    pass
            else:
                self.conn.execute('SELECT 1')
            return woken
        except psycopg.OperationalError as error:
            logger.warning('beat: listen connection lost (%s); reconnecting', error, extra={'action': 'beat.listen'})
            self.close()
            time.sleep(min(timeout, 1.0))
            return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class DatabaseScheduler(Scheduler):
    """Celery's Scheduler API over the task_schedule table; no heap, no schedules kept in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.settings = get_settings()
        self._conn: psycopg.Connection | None = None
        self._listener = Listener(self.settings.database_listen_dsn)
        self._moved = True
        self._next_poll = 0.0
        self._setup: BeatSetup | None = None
        self._task_names: set[str] | None = None
        self._failure: SystemExit | None = None
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """Start the child that upserts the code schedules and lists the registered tasks; ticks go on meanwhile."""
        self._setup = BeatSetup()

    @property
    def schedule(self) -> dict[str, Any]:
        return {}

    @property
    def info(self) -> str:
        listen = f'LISTEN {CHANNEL}' if self.settings.database_listen_dsn else 'polling: PgBouncer, no direct address'
        return f'    . database -> {self.settings.DATABASE_NAME} ({listen})'

    def should_sync(self) -> bool:
        return False

    def sync(self) -> None:
        """Nothing to save: every claim is committed before its tasks are sent."""

    def close(self) -> None:
        self._listener.close()
        self._close_connection()
        if self._setup is not None:
            self._setup.stop()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure  # Celery's loop swallows a SystemExit from tick(); this one sets beat's exit code

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due, then wait for the next due time or a change; returns 0 (the wait is done here)."""
        started = time.monotonic()
        wait = self.max_interval
        names = self._registered_tasks()
        try:
            conn = self._connection()
            polling = started >= self._next_poll
            if names is not None and (self._moved or polling):
                self._replan(conn, names)
            sent = self._dispatch_due(conn)
            if polling:
                self._redispatch(conn)
                with conn.transaction():
                    crud_beat.purge_schedule_runs(
                        conn, self.settings.TASK_BEAT_RUN_RETENTION_DAYS, self.settings.TASK_BEAT_BATCH_SIZE
                    )
                self._next_poll = started + self.settings.TASK_BEAT_POLL_SECONDS
            # Until the start-up child reports, look again soon: edited rows wait for its task names.
            wait = self._seconds_to_sleep(conn, sent) if names is not None else STARTUP_WAIT
        except psycopg.OperationalError as error:  # out of reach, timed out, or a deadlock: the next tick may pass
            logger.error('beat: database error (%s); retrying', error, extra={'action': 'beat.database'})
            self._close_connection()
            wait = min(wait, 1.0)
        except Exception as error:
            self._stop(error)
        self._moved = self._listener.wait(wait) or names is None
        return 0.0

    def _stop(self, error: Exception) -> None:
        """Stop beat with one sentence: the same statement would fail on every tick."""
        if isinstance(error, psycopg.Error):
            detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
            sentence = (
                f'Beat stopped: PostgreSQL refused its query ({detail}); is the database migrated (`fba db upgrade`)?'
            )
        else:
            sentence = f'Beat stopped on an unexpected error: {type(error).__name__}: {error}'
        logger.critical('%s', sentence, extra={'action': 'beat.stopped'})
        logger.debug('beat: the error that stopped it', exc_info=error)
        self._failure = SystemExit(sentence)
        raise self._failure from None

    def _registered_tasks(self) -> set[str] | None:
        """From the start-up child once it is done (None before); a lazy scheduler (tests) uses the app's own."""
        if self._task_names is None:
            try:
                self._task_names = set(self.app.tasks) if self._setup is None else self._setup.task_names()
            except SystemExit as failure:
                logger.critical('beat: %s', failure, extra={'action': 'beat.setup'})
                self._failure = failure
                raise
        return self._task_names

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.settings.database_dsn,
                prepare_threshold=self.settings.raw_prepare_threshold,
                connect_timeout=DATABASE_CONNECT_TIMEOUT,
            )
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _dispatch_due(self, conn: psycopg.Connection) -> int:
        """Claim and send due rows batch by batch until none is left; returns how many slots were sent."""
        batch, sent = self.settings.TASK_BEAT_BATCH_SIZE, 0
        while True:
            with conn.transaction():
                crud_beat.mark_beat_transaction(conn)
                rows = crud_beat.claim_due_schedules(conn, batch)
                if not rows:
                    return sent
                runs = self._claim(conn, rows)
            by_id = {row['id']: row for row in rows}
            sent += self._publish(conn, [(run['id'], by_id[run['schedule_id']], run['task_id']) for run in runs])
            if len(rows) < batch:
                return sent

    def _claim(self, conn: psycopg.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids, nexts, counts, enabled, reasons = [], [], [], [], []
        slot_ids, slot_times, task_ids = [], [], []
        for row in rows:
            try:  # the send columns are not versioned: an edit in SQL shows here first
                timing = Timing.of(row)
                timing.validate()
                check_send_fields(self.app, row)
                claim = plan_claim(
                    timing,
                    row['next_run_at'],
                    row['db_now'],
                    row['total_run_count'],
                    self.settings.TASK_BEAT_CATCH_UP_LIMIT,
                )
                reason = None
            except TaskError as error:
                claim, reason = None, self._disabled(row, error)
            ids.append(row['id'])
            nexts.append(claim.next_run_at if claim else None)
            counts.append(len(claim.slots) if claim else 0)
            enabled.append(claim.enabled if claim else False)
            reasons.append(reason)
            for slot in claim.slots if claim else []:
                slot_ids.append(row['id'])
                slot_times.append(slot)
                task_ids.append(slot_task_id(row['id'], slot))
        runs = crud_beat.insert_schedule_runs(conn, slot_ids, slot_times, task_ids)
        crud_beat.advance_schedules(conn, ids, nexts, counts, enabled, reasons)
        return runs

    @staticmethod
    def _disabled(row: dict[str, Any], error: TaskError) -> str:
        """Log why a row cannot run; the reason beat stores with the row as it disables it."""
        logger.error('beat: schedule %s disabled: %s', row['name'], error.message, extra={'action': 'beat.invalid'})
        return error.message

    def _publish(self, conn: psycopg.Connection, items: list[tuple[int, dict[str, Any], str]]) -> int:
        """Send claimed slots (run id, schedule row, task id) in one batch; unsent ones are resent by the poll."""
        calls = [
            (row['task'], row['args'], row['kwargs'], {'task_id': task_id, **send_options(row)})
            for _, row, task_id in items
        ]
        try:
            publish_each(self.app, calls)
        except BrokerUnavailable as error:
            logger.error('beat: %s', error, extra={'action': 'beat.publish'})
            return 0
        if items:
            with conn.transaction():
                crud_beat.mark_runs_dispatched(conn, [run_id for run_id, _, _ in items])
        return len(items)

    def _replan(self, conn: psycopg.Connection, names: set[str]) -> None:
        """Compute next_run_at for rows edited without it (raw SQL); a row that cannot run gets none."""
        batch = self.settings.TASK_BEAT_BATCH_SIZE
        while True:
            with conn.transaction():
                crud_beat.mark_beat_transaction(conn)
                rows = crud_beat.claim_moved_schedules(conn, batch)
                if not rows:
                    return
                plans = [self._plan(row, names) for row in rows]
                crud_beat.replan_schedules(
                    conn,
                    [row['id'] for row in rows],
                    [row['version'] for row in rows],
                    [next_run_at for next_run_at, _ in plans],
                    [reason for _, reason in plans],
                )
            if len(rows) < batch:
                return

    def _plan(self, row: dict[str, Any], names: set[str]) -> tuple[datetime | None, str | None]:
        """The row's next run, or why it cannot run (beat then disables it)."""
        try:
            if row['task'] not in names:
                raise InvalidSchedule(f'No task named {row["task"]!r} is registered.')
            timing = Timing.of(row)
            timing.validate()
            check_send_fields(self.app, row)
        except TaskError as error:
            return None, self._disabled(row, error)
        return (timing.first_run(row['db_now'], row['total_run_count']) if row['enabled'] else None), None

    def _redispatch(self, conn: psycopg.Connection) -> None:
        """Send again the slots claimed long ago but never confirmed by the broker (same task id)."""
        with conn.transaction():  # the runs stay locked while they are sent, so no other beat sends them too
            runs = crud_beat.claim_undispatched_runs(
                conn, self.settings.TASK_BEAT_REDISPATCH_SECONDS, self.settings.TASK_BEAT_BATCH_SIZE
            )
            runs = [run for run in runs if self._sendable(run)]
            if runs:
                logger.warning('beat: resending %d unsent slots', len(runs), extra={'action': 'beat.redispatch'})
                self._publish(conn, [(run['run_id'], run, run['task_id']) for run in runs])

    def _sendable(self, run: dict[str, Any]) -> bool:
        """An unsent slot whose schedule was edited (in SQL) into what no message can carry stays unsent."""
        try:
            check_send_fields(self.app, run)
        except TaskError as error:
            logger.error('beat: slot %s not resent: %s', run['task_id'], error, extra={'action': 'beat.invalid'})
            return False
        return True

    def _seconds_to_sleep(self, conn: psycopg.Connection, sent: int) -> float:
        with conn.transaction():
            due = crud_beat.next_due_at(conn)
        wait = min(self.max_interval, max(self._next_poll - time.monotonic(), 0.0))
        if due is not None:
            # A due row another beat holds right now: look again shortly rather than spin.
            wait = min(wait, max((due - datetime.now(UTC)).total_seconds(), 0.0 if sent else 0.05))
        return wait
