"""`DatabaseScheduler.tick()` in this process, on the real PostgreSQL and broker: what it sends and stores.

Rows are made due by moving next_run_at into the past in SQL (an edit of
next_run_at alone is taken as is), so no test waits for a clock.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from celery.schedules import crontab, solar

from backend.app.task.beat import startup as beat_setup
from backend.app.task.beat.scheduler import DatabaseScheduler
from backend.app.task.crud import crud_beat
from backend.app.task.scheduling.plan import slot_task_id
from tests.support.beat import QueueProbe
from tests.support.wait import wait_for

pytestmark = pytest.mark.broker

#: A solar schedule without its `ephem` dependency, which only its constructor needs.
SUNSET = solar.__new__(solar)
COLUMNS = ('name', 'task', 'kind', 'interval_every', 'interval_period', 'crontab', 'clocked_at', 'timezone', 'queue')


@pytest.fixture
def scheduler(celery_app: Any, private_queue: str) -> Iterator[DatabaseScheduler]:
    """Lazy: no code sync, so only the rows a test writes exist; they send to `private_queue`, declared."""
    scheduler = DatabaseScheduler(app=celery_app, max_interval=0.05, lazy=True)
    yield scheduler
    scheduler.close()


def add(pg: psycopg.Connection, queue: str, due_ago: float, **values: Any) -> int:
    """Insert a planned schedule due `due_ago` seconds ago (every 60 s unless told otherwise)."""
    row = {'name': f's{datetime.now().timestamp()}', 'task': 'task.ping', 'kind': 'interval', 'interval_every': 60}
    row.update(interval_period='seconds', timezone='UTC', queue=queue, **values)
    names = ', '.join(row)
    marks = ', '.join(f'%({key})s' for key in row)
    found = pg.execute(
        f'INSERT INTO task_schedule ({names}, version, planned_version, next_run_at) '
        f'VALUES ({marks}, 1, 1, now() - make_interval(secs => {due_ago})) RETURNING id',
        row,
    ).fetchone()
    assert found is not None
    return int(found[0])


def schedule(pg: psycopg.Connection, pk: int) -> dict[str, Any]:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        found = cur.execute('SELECT * FROM task_schedule WHERE id = %s', (pk,)).fetchone()
    assert found is not None
    return found


def runs(pg: psycopg.Connection, pk: int) -> list[tuple[datetime, str, datetime | None]]:
    query = 'SELECT scheduled_for, task_id, dispatched_at FROM task_schedule_run WHERE schedule_id = %s ORDER BY 1'
    return pg.execute(query, (pk,)).fetchall()


def test_tick_sends_every_due_row_in_the_same_tick(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given 1,200 schedules due now (more than one claim batch)
    ids = [add(pg, private_queue, 0.5, name=f'bulk-{n}') for n in range(1200)]
    # When beat ticks once
    scheduler.tick()
    # Then each was sent once, with its slot's task id, and moved one period on
    expected = {slot_task_id(pk, schedule_at) for pk in ids for schedule_at, _, _ in runs(pg, pk)}
    wait_for(lambda: len(probe.ids()) >= 1200, timeout=60, what='1,200 messages')
    assert sorted(probe.ids()) == sorted(expected) and len(expected) == 1200
    row = schedule(pg, ids[0])
    assert row['total_run_count'] == 1 and row['next_run_at'] > datetime.now(UTC) + timedelta(seconds=50)


def test_tick_disables_a_one_off_after_its_run(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    pk = add(pg, private_queue, 1, one_off=True)
    scheduler.tick()
    scheduler.tick()
    row = schedule(pg, pk)
    assert (row['enabled'], row['next_run_at'], row['total_run_count']) == (False, None, 1)
    wait_for(lambda: len(probe.ids()) == 1, timeout=30, what='the one-off message')


def test_tick_runs_a_clocked_schedule_once(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    pk = add(pg, private_queue, 1, kind='clocked', interval_every=None, clocked_at=datetime.now(UTC))
    scheduler.tick()
    assert schedule(pg, pk)['next_run_at'] is None and len(runs(pg, pk)) == 1


def test_tick_stops_at_max_runs_and_end_at(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given two schedules behind by ten minutes that catch up: one allows 3 runs, one ended 5 minutes ago
    capped = add(pg, private_queue, 600, max_runs=3, misfire_policy='catch_up')
    ended = add(pg, private_queue, 600, misfire_policy='catch_up', end_at=datetime.now(UTC) - timedelta(seconds=290))
    # When beat ticks
    scheduler.tick()
    # Then the first ran 3 times and the second only for slots before end_at; neither runs again
    assert (len(runs(pg, capped)), schedule(pg, capped)['next_run_at']) == (3, None)
    assert (len(runs(pg, ended)), schedule(pg, ended)['next_run_at']) == (6, None)
    wait_for(lambda: len(probe.ids()) == 9, timeout=30, what='nine messages')


def test_tick_applies_each_misfire_policy_after_downtime(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given three minute-schedules whose beat was down for ten minutes (grace 30 s)
    policies = {
        policy: add(pg, private_queue, 600, misfire_policy=policy, misfire_grace_seconds=30)
        for policy in ('skip', 'coalesce', 'catch_up')
    }
    for pk in policies.values():
        pg.execute('UPDATE task_schedule SET interval_every = 60 WHERE id = %s', (pk,))  # unchanged: no re-plan
    # When beat comes back
    scheduler.tick()
    # Then skip sends nothing, coalesce once, catch_up every missed slot; all move to the next future slot
    counts = {policy: len(runs(pg, pk)) for policy, pk in policies.items()}
    assert counts == {'skip': 0, 'coalesce': 1, 'catch_up': 11}
    for pk in policies.values():
        assert schedule(pg, pk)['next_run_at'] > datetime.now(UTC)
    wait_for(lambda: len(probe.ids()) == 12, timeout=30, what='twelve messages')


def test_tick_leaves_disabled_schedules_alone(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    pk = add(pg, private_queue, 5, enabled=False)
    scheduler.tick()
    assert runs(pg, pk) == [] and probe.ids() == []


def test_tick_replans_rows_edited_in_sql_and_refuses_unknown_tasks(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given two planned schedules far in the future
    good, bad = add(pg, private_queue, -3600), add(pg, private_queue, -3600)
    # When one gets a new crontab and the other an unregistered task, in SQL
    pg.execute("UPDATE task_schedule SET kind = 'crontab', crontab = '*/5 * * * *' WHERE id = %s", (good,))
    pg.execute("UPDATE task_schedule SET task = 'no.such_task' WHERE id = %s", (bad,))
    scheduler.tick()
    # Then beat planned the first from its crontab and parked the second
    row = schedule(pg, good)
    assert row['version'] == row['planned_version'] == 2
    assert row['next_run_at'].minute % 5 == 0 and row['next_run_at'] - datetime.now(UTC) <= timedelta(minutes=5)
    assert schedule(pg, bad)['next_run_at'] is None


def add_with_unsent_slot(pg: psycopg.Connection, queue: str) -> tuple[int, datetime]:
    """A due schedule with a slot claimed two minutes ago that the broker never confirmed."""
    pk = add(pg, queue, -3600)
    slot = datetime.now(UTC) - timedelta(minutes=2)
    pg.execute(
        'INSERT INTO task_schedule_run (schedule_id, scheduled_for, task_id, claimed_at) '
        "VALUES (%s, %s, %s, now() - interval '2 minutes')",
        (pk, slot, slot_task_id(pk, slot)),
    )
    return pk, slot


def test_tick_resends_a_slot_whose_beat_died_before_sending(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given a slot claimed two minutes ago but never confirmed by the broker
    pk, slot = add_with_unsent_slot(pg, private_queue)
    # When beat polls
    scheduler.tick()
    # Then it is sent with the slot's own task id and marked dispatched
    wait_for(lambda: probe.ids() == [slot_task_id(pk, slot)], timeout=30, what='the resent slot')
    assert runs(pg, pk)[0][2] is not None


@pytest.mark.parametrize(
    ('entry', 'message'),
    [
        ({'task': 'task.ping', 'schedule': '61 * * * *'}, "Crontab minute field '61'"),
        ({'task': 'task.ping', 'schedule': '٣ * * * *'}, "'٣' is not a number"),
        ({'task': 'task.add', 'schedule': 60, 'args': [1]}, 'Arguments do not fit task task.add'),
        ({'task': 'task.ping', 'schedule': 60, 'options': {'queue': 'nobody'}}, "queue: 'nobody' is not declared"),
        ({'task': 'task.ping', 'schedule': 60, 'options': {'priority': 99}}, 'priority: Input should be less'),
        ({'task': 'task.ping', 'schedule': 2**40}, 'interval_every: Input should be less than or equal'),
        ({'task': 'task.ping', 'schedule': 60, 'misfire_grace_seconds': 2**31}, 'misfire_grace_seconds: Input'),
    ],
)
def test_beat_setup_refuses_a_code_schedule_that_cannot_run(
    monkeypatch: pytest.MonkeyPatch, entry: dict[str, Any], message: str
) -> None:
    from backend.app.task.tasks.beat import LOCAL_BEAT_SCHEDULE

    monkeypatch.setitem(LOCAL_BEAT_SCHEDULE, 'broken', entry)
    with pytest.raises(SystemExit) as stopped:
        beat_setup.main()
    sentence = str(stopped.value)
    assert sentence.startswith("Code schedule 'broken': ") and message in sentence


def test_beat_setup_stops_on_a_solar_entry_naming_it(celery_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(celery_app.conf.beat_schedule, 'at_sunset', {'task': 'task.ping', 'schedule': SUNSET})
    with pytest.raises(SystemExit, match="Code schedule 'at_sunset': a solar schedule cannot be stored"):
        beat_setup.main()


def test_beat_setup_syncs_app_conf_beat_schedule_with_the_local_one(
    celery_app: Any, monkeypatch: pytest.MonkeyPatch, pg: psycopg.Connection
) -> None:
    # Given an entry a user put in app.conf.beat_schedule, Celery's way
    pg.execute('DELETE FROM task_schedule')
    entry = {'task': 'task.add', 'schedule': crontab(minute=0, hour='*/6'), 'args': (2, 3), 'kwargs': {}}
    monkeypatch.setitem(celery_app.conf.beat_schedule, 'conf_adder', entry)
    # When beat's start-up child runs
    beat_setup.main()
    # Then it is a code schedule next to LOCAL_BEAT_SCHEDULE's
    rows = pg.execute('SELECT name, source, crontab, args FROM task_schedule WHERE enabled ORDER BY name').fetchall()
    pg.execute('DELETE FROM task_schedule')
    assert rows == [
        ('celery.backend_cleanup', 'code', '0 4 * * *', []),
        ('conf_adder', 'code', '0 0,6,12,18 * * *', [2, 3]),
    ]


#: SQL edits that leave a row beat cannot plan or send, and a word of the reason it stores.
GARBAGE = {
    'crontab': ("kind = 'crontab', crontab = '61 * * * *'", "Crontab minute field '61'"),
    'crontab digit': ("kind = 'crontab', crontab = '٣ * * * *'", 'is not a number'),
    'time zone': ("timezone = 'Mars/Olympus'", "'Mars/Olympus' is not an IANA zone"),
    'time zone folder': ("timezone = 'America'", "'America' is not an IANA zone"),
    'interval': ('interval_every = 0', 'positive whole number, not 0'),
    'interval period': ("interval_period = 'fortnights'", 'Interval period must be one of'),
    'interval too long': ("interval_every = 2147483647, interval_period = 'days'", 'at most 100 years'),
    'dates': ("start_at = '2030-01-02', end_at = '2030-01-01'", 'must be after start_at'),
    'task': ("task = 'no.such_task'", "No task named 'no.such_task'"),
    'args': ('args = \'"one"\'', 'args must be a JSON array'),
    'kwargs': ("kwargs = '[1]'", 'kwargs must be a JSON object'),
    'queue': ("queue = 'nobody-reads-this'", "queue: 'nobody-reads-this' is not declared"),
    'priority': ('priority = 300', 'priority must be within 0-9'),
}


@pytest.mark.parametrize('edit', GARBAGE, ids=list(GARBAGE))
def test_tick_disables_a_row_edited_into_garbage_and_sends_the_others(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str, edit: str
) -> None:
    # Given two due schedules, one of them edited in SQL into something that cannot run
    good, bad = add(pg, private_queue, 1), add(pg, private_queue, 1)
    assignment, reason = GARBAGE[edit]
    pg.execute(f'UPDATE task_schedule SET {assignment} WHERE id = %s', (bad,))
    # When beat ticks (twice: a versioned edit is re-planned first, an unversioned one is caught when claimed)
    scheduler.tick()
    scheduler.tick()
    # Then the bad row is disabled with the reason stored, and the good one was sent
    row = schedule(pg, bad)
    assert (row['enabled'], row['next_run_at']) == (False, None)
    assert reason in row['disabled_reason']
    assert runs(pg, bad) == []
    wait_for(lambda: probe.ids() == [runs(pg, good)[0][1]], timeout=30, what="the good row's slot")


def test_tick_resends_no_unsent_slot_of_a_row_edited_into_garbage(
    scheduler: DatabaseScheduler, probe: QueueProbe, pg: psycopg.Connection, private_queue: str
) -> None:
    # Given an unsent slot of a schedule whose priority was then set, in SQL, beyond what a message can carry
    pk, _ = add_with_unsent_slot(pg, private_queue)
    pg.execute('UPDATE task_schedule SET priority = 1000 WHERE id = %s', (pk,))
    # When beat polls, then sends a good row's slot
    scheduler.tick()
    good = add(pg, private_queue, 1)
    scheduler.tick()
    # Then beat is still ticking, the bad slot stays unsent and the good one went out
    assert runs(pg, pk)[0][2] is None
    wait_for(lambda: probe.ids() == [runs(pg, good)[0][1]], timeout=30, what="the good row's slot")


def test_a_bug_in_a_tick_stops_beat_with_one_sentence_instead_of_a_retry_loop(
    scheduler: DatabaseScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a tick that hits a programming error (injected here), which would fail the same way on every tick
    def broken(*_: Any) -> None:
        raise KeyError('next_run_at')

    monkeypatch.setattr(crud_beat, 'claim_due_schedules', broken)
    # When beat ticks, then it stops (SystemExit) with one sentence, and closing repeats it as beat's exit status
    with pytest.raises(SystemExit, match=r"^Beat stopped on an unexpected error: KeyError: 'next_run_at'$"):
        scheduler.tick()
    with pytest.raises(SystemExit, match='Beat stopped on an unexpected error'):
        scheduler.close()
