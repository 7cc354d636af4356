"""API, worker and beat through PgBouncer in transaction pooling: no prepared statement or session state may
outlive its transaction, and beat LISTENs on PostgreSQL itself (DATABASE_DIRECT_PORT)."""

import os
import sys
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.support.pgbouncer import pgbouncer
from tests.support.processes import Spawned, free_port, http_status, spawn
from tests.support.services import TestRun as Run
from tests.support.wait import wait_for

pytestmark = [pytest.mark.rabbitmq_only, pytest.mark.timeout(300)]

TOKEN = 'pgbouncer-token-0123456789abcdef'
TASKS = 40


@pytest.fixture(scope='module')
def bouncer_port(test_run: Run) -> Iterator[int]:
    with pgbouncer(test_run.pg_port) as port:
        yield port


def start(name: str, args: list[str], env: dict[str, str]) -> Spawned:
    return spawn(name, [sys.executable, '-m', 'backend.cli.main', *args], env=env)


def through(port: int, *, pgbouncer_mode: bool) -> dict[str, str]:
    return {
        **os.environ,
        'DATABASE_PORT': str(port),
        'DATABASE_PGBOUNCER': 'true' if pgbouncer_mode else 'false',
        'DATABASE_DIRECT_PORT': os.environ.get('DATABASE_PORT', '5432'),
        'API_TOKENS': TOKEN,
    }


def test_api_worker_and_beat_work_through_pgbouncer(
    bouncer_port: int, private_queue: str, pg: psycopg.Connection
) -> None:
    env = through(bouncer_port, pgbouncer_mode=True)
    api_port = free_port()
    parts = [
        # Two pool processes and the API share two server connections: statements hop between them.
        start('pgb-worker', ['worker', '--queues', private_queue, '--pool', 'prefork', '--concurrency', '2'], env),
        start('pgb-api', ['api', '--port', str(api_port)], env),
        start('pgb-beat', ['beat', '--hostname', 'pgbbeat@localhost'], env),
    ]
    url = f'http://127.0.0.1:{api_port}/api/v1'
    try:
        wait_for(lambda: http_status(f'{url}/monitoring/health') is not None, timeout=120, what='the API')
        wait_for(lambda: ' ready.' in parts[0].log(), timeout=120, interval=0.5, what='the worker')
        with httpx.Client(headers={'Authorization': f'Bearer {TOKEN}'}, timeout=60) as client:
            ids = []
            for i in range(TASKS):
                # The async task writes through the asyncpg engine in the worker, the API reads through asyncpg.
                name, call = (
                    ('task.add', {'args': [i, 1]}) if i % 2 else ('db_log.log_login', {'args': [f'u{i}', True]})
                )
                response = client.post(f'{url}/tasks/{name}/send', json={**call, 'queue': private_queue})
                assert response.status_code == 202, response.text
                ids.append(response.json()['task_id'])

            def all_succeeded() -> bool:
                states = [client.get(f'{url}/task-results/{task_id}').json().get('state') for task_id in ids]
                return all(state == 'SUCCESS' for state in states)

            wait_for(all_succeeded, timeout=120, interval=0.5, what=f'{TASKS} tasks to succeed through PgBouncer')
            created = client.post(
                f'{url}/schedules',
                json={
                    'name': 'pgb-every-second',
                    'task': 'task.ping',
                    'kind': 'interval',
                    'interval_every': 1,
                    'interval_period': 'seconds',
                    'queue': private_queue,
                },
            )
            assert created.status_code == 201, created.text
        schedule_id = created.json()['id']
        wait_for(
            lambda: (
                pg.execute(
                    'SELECT count(*) FROM task_schedule_run WHERE schedule_id = %s AND dispatched_at IS NOT NULL',
                    [schedule_id],
                ).fetchone()[0]  # type: ignore[index]
                >= 2
            ),
            timeout=60,
            what='beat to send the new schedule',
        )
        assert 'beat: listening on' in parts[2].log()
        for part in parts:
            part.assert_alive()
            assert 'prepared statement' not in part.log(), part.log()[-3000:]
    finally:
        pg.execute("DELETE FROM task_schedule WHERE name = 'pgb-every-second'")
        for part in parts:
            part.stop()
