"""Beat as users run it (`celery … beat`, `-S …DatabaseScheduler`, `fba beat`): slots sent once, crashes, edits.

Schedules publish to a private queue that the test reads, so what the broker
received is checked against the run rows in PostgreSQL.
"""

import itertools
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.support.beat import BeatProcess, QueueProbe, start_beat
from tests.support.wait import wait_for
from tests.support.worker import CELERY_APP

pytestmark = pytest.mark.broker
FAST = {'TASK_BEAT_POLL_SECONDS': '1', 'TASK_BEAT_MAX_LOOP_INTERVAL': '1', 'TASK_BEAT_REDISPATCH_SECONDS': '3'}


@pytest.fixture
def make_beat(private_queue: str) -> Iterator[Callable[..., BeatProcess]]:
    started: list[BeatProcess] = []

    def make(argv: list[str] | None = None, env: dict[str, str] | None = None) -> BeatProcess:
        beat = start_beat({**FAST, **(env or {})}, argv)
        started.append(beat)
        wait_for(
            lambda: 'listening on fba_task_schedule_v1' in beat.log() or not beat.alive(),
            timeout=60,
            what='beat to listen',
        )
        assert beat.alive(), beat.log()
        return beat

    yield make
    for beat in started:
        beat.stop()


def add_every(
    pg: psycopg.Connection, queue: str, seconds: int, policy: str = 'coalesce', name: str | None = None
) -> int:
    """A schedule inserted in SQL without next_run_at: beat plans it (its version moved)."""
    row = pg.execute(
        'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, queue, misfire_policy)'
        " VALUES (%s, 'task.ping', 'interval', %s, 'seconds', 'UTC', %s, %s) RETURNING id",
        (name or f'every-{seconds}-{queue}', seconds, queue, policy),
    ).fetchone()
    assert row is not None
    return int(row[0])


def runs(pg: psycopg.Connection, pk: int) -> list[tuple[datetime, str]]:
    query = 'SELECT scheduled_for, task_id FROM task_schedule_run WHERE schedule_id = %s ORDER BY scheduled_for'
    return pg.execute(query, (pk,)).fetchall()


def assert_consecutive(slots: list[datetime], step: float) -> None:
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(slots)}
    assert gaps == {step}, f'slots are not {step} s apart: {sorted(gaps)}'


@pytest.mark.slow
def test_two_beats_send_every_slot_exactly_once(
    make_beat: Callable[..., BeatProcess], probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given two beats running at once and a schedule every second
    beats = [make_beat(), make_beat()]
    pk = add_every(pg, private_queue, 1)
    # When they run for 30 slots, each published while both beats still run
    wait_for(lambda: len(runs(pg, pk)) >= 30, timeout=90, what='30 slots')
    recorded = runs(pg, pk)[:30]
    expected = {task_id for _, task_id in recorded}
    wait_for(lambda: expected <= set(probe.ids()), timeout=30, what='the 30 slots to be published')
    for beat in beats:
        beat.stop()
    # Then the slots are consecutive (none missed) and no slot was published twice, even after both stopped
    assert_consecutive([slot for slot, _ in recorded], 1.0)
    published = probe.ids()
    assert len(published) == len(set(published))


@pytest.mark.slow
def test_beat_killed_between_slots_neither_resends_nor_loses_a_slot(
    make_beat: Callable[..., BeatProcess], probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    scheduler_flag = ['-S', 'backend.app.task.utils.schedulers:DatabaseScheduler']
    argv = [sys.executable, '-m', 'celery', '-A', CELERY_APP, 'beat', '--loglevel=INFO', *scheduler_flag]
    # Given beat sending a catch-up schedule every 2 s
    beat = make_beat(argv)
    pk = add_every(pg, private_queue, 2, policy='catch_up')
    wait_for(lambda: len(runs(pg, pk)) >= 3, timeout=60, what='three slots')

    # When it is killed -9 just after a slot was sent and confirmed, and stays down over the next two slots (a kill
    # between the broker's confirm and marking the run dispatched re-sends that slot: at least once, by design)
    def just_sent() -> bool:
        row = pg.execute(
            'SELECT next_run_at - now(), (SELECT count(*) FROM task_schedule_run r WHERE r.schedule_id = s.id'
            ' AND r.dispatched_at IS NULL) FROM task_schedule s WHERE id = %s',
            (pk,),
        ).fetchone()
        return row is not None and row[0] > timedelta(seconds=1) and row[1] == 0

    wait_for(just_sent, timeout=30, what='a moment between two slots')
    beat.kill()

    def two_slots_missed() -> bool:
        row = pg.execute('SELECT now() - next_run_at FROM task_schedule WHERE id = %s', (pk,)).fetchone()
        return row is not None and row[0] > timedelta(seconds=2.5)

    wait_for(two_slots_missed, timeout=15, what='two slots to pass with beat down')
    before = len(runs(pg, pk))
    make_beat(argv)
    wait_for(lambda: len(runs(pg, pk)) >= before + 4, timeout=60, what='slots after the restart')

    # Then the slots missed while down were sent late, once each, and no slot twice (a slot claimed just before
    # the kill but not yet confirmed by the broker is re-sent by the poll, with the same task id)
    recorded = runs(pg, pk)
    assert_consecutive([slot for slot, _ in recorded], 2.0)
    expected = {task_id for _, task_id in recorded}
    wait_for(lambda: expected <= set(probe.ids()), timeout=60, what='every recorded slot to be published')
    published = probe.ids()
    assert len(published) == len(set(published))


def test_beat_publishes_a_schedule_edited_in_sql_within_moments(
    make_beat: Callable[..., BeatProcess], probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given beat idle with a daily schedule (polling only every 60 s: only the notification can wake it)
    make_beat(env={'TASK_BEAT_POLL_SECONDS': '60', 'TASK_BEAT_MAX_LOOP_INTERVAL': '60'})
    pk = add_every(pg, private_queue, 86400)
    wait_for(
        lambda: pg.execute('SELECT next_run_at FROM task_schedule WHERE id = %s', (pk,)).fetchone()[0],
        timeout=30,
        what='beat to plan the schedule',
    )
    latencies = []
    for round_ in range(5):
        # When someone makes it due now in plain SQL, bypassing the service
        edited = time.time()
        pg.execute(
            "UPDATE task_schedule SET kind = 'clocked', clocked_at = now(), total_run_count = 0, "
            'interval_every = %s WHERE id = %s',
            (round_ + 1, pk),
        )
        # Then beat publishes it at once
        wait_for(lambda n=round_: len(probe.drain()) > n, timeout=30, what='the edited schedule to be published')
        latencies.append(probe.messages[-1].received - edited)
    median, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(f'edit -> publish latency: median {median:.0f} ms, max {worst:.0f} ms')
    assert median < 2000


def test_fba_beat_syncs_code_schedules_and_disables_removed_ones(
    make_beat: Callable[..., BeatProcess], probe: QueueProbe, pg: psycopg.Connection
) -> None:
    # Given a code-defined schedule that is no longer in tasks/beat.py
    pg.execute(
        'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, source) '
        "VALUES ('gone-from-code', 'task.ping', 'interval', 60, 'seconds', 'UTC', 'code')"
    )
    # When `fba beat` starts
    make_beat([sys.executable, '-m', 'backend.cli', 'beat'])

    # Then the daily result cleanup is there, from code, and the removed one is disabled (one transaction)
    def rows() -> dict[str, list[object]]:
        found = pg.execute('SELECT name, source, enabled, next_run_at IS NOT NULL FROM task_schedule')
        return {name: rest for name, *rest in found}

    wait_for(lambda: 'celery.backend_cleanup' in rows(), timeout=30, what='the code schedules to be synced')
    assert rows()['celery.backend_cleanup'] == ['code', True, True]
    assert rows()['gone-from-code'] == ['code', False, False]


#: SQL edits of a running schedule that beat cannot plan or send, and a word of the reason it stores.
GARBAGE = {
    'crontab': ("kind = 'crontab', crontab = '* * * * * *'", 'must have 5 fields'),
    'time zone': ("kind = 'crontab', crontab = '* * * * *', timezone = 'Nowhere/Town'", "'Nowhere/Town' is not"),
    'interval': ("interval_period = 'weeks'", 'Interval period must be one of'),
    'dates': ("start_at = now() + interval '1 day', end_at = now()", 'must be after start_at'),
    'args': ('args = \'{"a": 1}\'', 'args must be a JSON array'),
    'kwargs': ('kwargs = \'"x"\'', 'kwargs must be a JSON object'),
    'task': ("task = 'nope.never'", "No task named 'nope.never'"),
}


def test_beat_disables_rows_edited_into_garbage_and_keeps_sending_the_others(
    make_beat: Callable[..., BeatProcess], probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given beat sending a schedule every second, and one more schedule per kind of garbage, all running
    beat = make_beat()
    good = add_every(pg, private_queue, 1, name='good')
    bad = {kind: add_every(pg, private_queue, 1, name=f'bad-{kind}') for kind in GARBAGE}
    wait_for(lambda: all(runs(pg, pk) for pk in bad.values()), timeout=60, what='every schedule to run once')
    # When each of the others is edited in plain SQL into something that cannot run
    for kind, pk in bad.items():
        pg.execute(f'UPDATE task_schedule SET {GARBAGE[kind][0]} WHERE id = %s', (pk,))

    def reasons() -> dict[str, str | None]:
        found = pg.execute("SELECT name, disabled_reason FROM task_schedule WHERE NOT enabled AND name LIKE 'bad-%'")
        return {name.removeprefix('bad-'): reason for name, reason in found}

    # Then each is disabled with its reason, beat goes on, and the good one keeps being sent every second
    wait_for(lambda: set(reasons()) == set(GARBAGE), timeout=60, what='every bad row to be disabled')
    for kind, reason in reasons().items():
        assert reason is not None and GARBAGE[kind][1] in reason, (kind, reason)
    sent = len(runs(pg, good))
    wait_for(lambda: len(runs(pg, good)) >= sent + 3, timeout=60, what='three more slots of the good schedule')
    expected = {task_id for _, task_id in runs(pg, good)}
    wait_for(lambda: expected <= set(probe.ids()), timeout=30, what='the good slots to be published')
    beat.assert_alive()


def test_beat_against_a_database_without_its_tables_stops_with_one_sentence(test_run: Any) -> None:
    # Given a database whose tables were dropped (here: never created)
    name = f'{test_run.database}_bare'
    with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    beat = start_beat({**FAST, 'DATABASE_NAME': name})
    try:
        # When beat starts, then it exits 1 promptly, its last line one sentence naming the missing table
        started = time.monotonic()
        wait_for(lambda: not beat.alive(), timeout=60, what='beat to stop')
        assert time.monotonic() - started < 30
        assert beat.proc.returncode == 1, beat.log()
        last = beat.log().strip().splitlines()[-1]
        assert 'task_schedule' in last and 'does not exist' in last and 'fba db upgrade' in last, beat.log()
        assert 'Traceback' not in beat.log()
    finally:
        beat.stop()
        with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
