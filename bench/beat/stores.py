"""How each scheduler stores schedules: fill it, make some due, reset it (plain writes, as an operator would)."""

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from celery.schedules import schedule
from redbeat.decoder import RedBeatJSONEncoder

APP = 'bench.beat.apps:app'
HOUR = 3600


class Store:
    name = ''
    scheduler = ''
    startup_timeout = 60.0
    edit_timeout = 15.0
    burst_timeout = 6.0
    #: Edits measured (median); a slow baseline gets fewer to keep the run short.
    edits = 2

    def __init__(self, conn: psycopg.Connection, env: dict[str, str]) -> None:
        self.conn = conn
        self.env = env
        self.queue = self.queue_name()

    @classmethod
    def queue_name(cls) -> str:
        """The queue this contender publishes to; TASK_QUEUES declares it (beat refuses undeclared ones)."""
        return f'bench-beat-{cls.name}'

    def argv(self) -> list[str]:
        return [sys.executable, '-m', 'backend.cli.beat_process', '-A', APP, '-S', self.scheduler]

    def populate(self, count: int) -> None:
        """`count` hourly schedules none of which is due for 10 minutes, plus a probe due now."""
        raise NotImplementedError

    def make_due_now(self, n: int) -> None:
        raise NotImplementedError

    def make_due_at(self, numbers: Iterable[int], at: datetime) -> None:
        raise NotImplementedError

    def reset_to_one_per_second(self) -> None:
        raise NotImplementedError


class Ours(Store):
    name = 'ours'
    edits = 10
    scheduler = 'backend.app.task.beat.scheduler:DatabaseScheduler'

    def populate(self, count: int) -> None:
        self.conn.execute(
            'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, queue, '
            'version, planned_version, next_run_at) '
            "SELECT 'bench-' || g, 'task.ping', 'interval', 3600, 'seconds', 'UTC', %(q)s, 1, 1, "
            'now() + make_interval(secs => 600 + g %% 3000) FROM generate_series(0, %(n)s - 1) g',
            {'q': self.queue, 'n': count},
        )
        self.conn.execute(
            'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, queue, '
            "version, planned_version, next_run_at) VALUES ('probe', 'task.ping', 'interval', 3600, 'seconds', "
            "'UTC', %s, 1, 1, now())",
            (self.queue,),
        )

    def make_due_now(self, n: int) -> None:
        self.conn.execute(
            "UPDATE task_schedule SET kind = 'clocked', clocked_at = now() WHERE name = %s", (f'bench-{n}',)
        )

    def make_due_at(self, numbers: Iterable[int], at: datetime) -> None:
        names = [f'bench-{n}' for n in numbers]
        self.conn.execute('UPDATE task_schedule SET next_run_at = %s WHERE name = ANY(%s)', (at, names))

    def reset_to_one_per_second(self) -> None:
        self.conn.execute('TRUNCATE task_schedule CASCADE')
        self.conn.execute(
            'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, queue) '
            "VALUES ('every-second', 'task.ping', 'interval', 1, 'seconds', 'UTC', %s)",
            (self.queue,),
        )


class SqlalchemyCeleryBeat(Store):
    name = 'sqlalchemy-celery-beat'
    scheduler = 'sqlalchemy_celery_beat.schedulers:DatabaseScheduler'
    startup_timeout = 120.0
    edit_timeout = 10.0
    burst_timeout = 5.0
    edits = 1
    tasks = 'celery_schema.celery_periodictask'

    def __init__(self, conn: psycopg.Connection, env: dict[str, str]) -> None:
        super().__init__(conn, env)
        from sqlalchemy_celery_beat.session import SessionManager

        manager = SessionManager()
        engine, _ = manager.create_session(env['BENCH_BEAT_DBURI'], schema='celery_schema')
        manager.prepare_models(engine, schema='celery_schema')
        engine.dispose()

    def _changed(self) -> None:
        """What the library's own listener does on every ORM write: bump the one change timestamp."""
        self.conn.execute(
            'INSERT INTO celery_schema.celery_periodictaskchanged (id, last_update) VALUES (1, now()) '
            'ON CONFLICT (id) DO UPDATE SET last_update = now()'
        )

    def _interval(self, every: int) -> int:
        row = self.conn.execute(
            "INSERT INTO celery_schema.celery_intervalschedule (every, period) VALUES (%s, 'seconds') RETURNING id",
            (every,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _insert(self, names: str, last_run: str, interval: int, params: dict[str, Any]) -> None:
        self.conn.execute(
            f'INSERT INTO {self.tasks} (name, task, args, kwargs, queue, headers, one_off, enabled, '
            'last_run_at, total_run_count, date_changed, description, discriminator, schedule_id) '
            f"SELECT {names}, 'task.ping', '[]', '{{}}', %(q)s, '{{}}', false, true, {last_run}, 0, now(), '', "
            f"'intervalschedule', {interval} {'FROM generate_series(0, %(n)s - 1) g' if 'g' in names else ''}",
            {'q': self.queue, **params},
        )

    def populate(self, count: int) -> None:
        hourly = self._interval(HOUR)
        self._insert("'bench-' || g", 'now() - make_interval(secs => g %% 2000)', hourly, {'n': count})
        self._insert("'probe'", "now() - interval '2 hours'", hourly, {})
        self._changed()

    def make_due_now(self, n: int) -> None:
        self.conn.execute(
            f"UPDATE {self.tasks} SET last_run_at = now() - interval '2 hours' WHERE name = %s", (f'bench-{n}',)
        )
        self._changed()

    def make_due_at(self, numbers: Iterable[int], at: datetime) -> None:
        names = [f'bench-{n}' for n in numbers]
        self.conn.execute(
            f'UPDATE {self.tasks} SET last_run_at = %s WHERE name = ANY(%s)', (at - timedelta(seconds=HOUR), names)
        )
        self._changed()

    def reset_to_one_per_second(self) -> None:
        self.conn.execute(f'TRUNCATE {self.tasks}')
        self._insert("'every-second'", 'NULL', self._interval(1), {})
        self._changed()


class RedBeat(Store):
    name = 'celery-redbeat'
    scheduler = 'redbeat.RedBeatScheduler'
    prefix = 'bench:'
    burst_timeout = 10.0

    def __init__(self, conn: psycopg.Connection, env: dict[str, str]) -> None:
        super().__init__(conn, env)
        self.redis = redis.Redis.from_url(env['BENCH_REDBEAT_URL'])

    def _definition(self, name: str, every: int) -> str:
        definition = {
            'name': name,
            'task': 'task.ping',
            'args': [],
            'kwargs': {},
            'options': {'queue': self.queue},
            'schedule': schedule(timedelta(seconds=every)),
            'enabled': True,
        }
        return json.dumps(definition, cls=RedBeatJSONEncoder)

    def _due(self, pipe: Any, name: str, last_run: datetime, every: int = HOUR) -> None:
        pipe.hset(self.prefix + name, 'meta', json.dumps({'last_run_at': last_run}, cls=RedBeatJSONEncoder))
        pipe.zadd(self.prefix + ':schedule', {self.prefix + name: (last_run + timedelta(seconds=every)).timestamp()})

    def _write(self, items: list[tuple[str, datetime]], every: int = HOUR) -> None:
        for start in range(0, len(items), 10_000):
            with self.redis.pipeline(transaction=False) as pipe:
                for name, last_run in items[start : start + 10_000]:
                    pipe.hset(self.prefix + name, 'definition', self._definition(name, every))
                    self._due(pipe, name, last_run, every)
                pipe.execute()

    def populate(self, count: int) -> None:
        now = datetime.now(UTC)
        items = [(f'bench-{g}', now - timedelta(seconds=g % 2000)) for g in range(count)]
        self._write([*items, ('probe', now - timedelta(hours=2))])

    def make_due_now(self, n: int) -> None:
        with self.redis.pipeline() as pipe:
            self._due(pipe, f'bench-{n}', datetime.now(UTC) - timedelta(seconds=HOUR))
            pipe.execute()

    def make_due_at(self, numbers: Iterable[int], at: datetime) -> None:
        with self.redis.pipeline() as pipe:
            for n in numbers:
                self._due(pipe, f'bench-{n}', at - timedelta(seconds=HOUR))
            pipe.execute()

    def reset_to_one_per_second(self) -> None:
        self.redis.flushdb()
        self._write([('every-second', datetime.now(UTC) - timedelta(seconds=5))], every=1)


CONTENDERS: dict[str, type[Store]] = {
    'ours': Ours,
    'sqlalchemy-celery-beat': SqlalchemyCeleryBeat,
    'celery-redbeat': RedBeat,
}
