"""A call with secret arguments, a secret result and a secret-quoting exception leaves the values nowhere.

Sent through the API and with `apply_async` (what `delay` calls), run by a real
worker watched by a real Flower, the secret values must not show in any log,
Flower page or API answer, nor in any table, except where a call or a result
must keep them to be of use: a schedule's arguments and a dead letter's (sent
again), a successful result's value (what `AsyncResult.get()` returns), and the
message body itself.
"""

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.acceptance.test_api_monitoring import wait_async
from tests.acceptance.test_flower import LOGIN, basic
from tests.support import secret_tasks
from tests.support.processes import Spawned, free_port, spawn, wait_for_http
from tests.support.secret_tasks import API_KEY, NESTED_PIN, PASSWORD, SECRETS
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker

ARGS = ['ann', PASSWORD]
KWARGS = {'api_key': API_KEY, 'profile': {'pin': NESTED_PIN, 'brand': 'visa'}}
#: Columns that keep the real values on purpose, per table (see the module docstring).
KEPT = {'task_schedule': ('args', 'kwargs'), 'task_dead_letter': ('args', 'kwargs')}
FINAL = ('SUCCESS', 'FAILURE')


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[tuple[Spawned, str, Path]]:
    port, data_dir = free_port(), tmp_path / 'flower-data'
    env = {**os.environ, 'FLOWER_BASIC_AUTH': LOGIN, 'FLOWER_DATA_DIR': str(data_dir), 'FLOWER_PERSISTENT': 'true'}
    argv = [sys.executable, '-m', 'backend.cli', 'flower', '--port', str(port)]
    spawned = spawn('flower', argv, env=env, cwd=tmp_path, log_dir=tmp_path)
    url = f'http://127.0.0.1:{port}'
    wait_for_http(spawned, f'{url}/healthcheck')
    yield spawned, url, data_dir
    spawned.stop()


@pytest.fixture
def secret_worker(make_worker: Any, private_queue: str, flower: Any) -> WorkerProcess:
    """A worker with the secret tasks, sending events (to Flower, started first)."""
    return make_worker(queues=private_queue, extra_args=['--include', 'tests.support.secret_tasks', '-E'])


def leaks(where: str, text: str) -> list[str]:
    return [f'{where} shows {secret!r}' for secret in SECRETS if secret in text]


def table_dump(pg: psycopg.Connection) -> list[str]:
    """Every row of every table as JSON text, without the columns that keep real values (and results that worked)."""
    tables = [
        row[0] for row in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ]
    found = []
    for table in tables:
        dropped = ''.join(f" - '{column}'" for column in KEPT.get(table, ()))
        if table == 'task_result':
            dropped = " - CASE WHEN status = 'SUCCESS' THEN 'result' ELSE '' END"
        rows = pg.execute(f'SELECT (to_jsonb(t){dropped})::text FROM {table} t').fetchall()
        found += leaks(f'table {table}', '\n'.join(row[0] for row in rows))
    return found


async def test_secret_values_show_in_no_log_page_answer_or_table(
    api: httpx.AsyncClient,
    secret_worker: WorkerProcess,
    flower: tuple[Spawned, str, Path],
    private_queue: str,
    pg: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    flower_process, flower_url, flower_dir = flower
    q = private_queue
    # Given calls with secret arguments (positional, keyword, nested) through the API...
    answers: list[httpx.Response] = []
    for mode in ('ok', 'fail', 'retry'):
        answers.append(
            await api.post(
                '/api/v1/tasks/test.secret_login/send',
                json={'args': ARGS, 'kwargs': {**KWARGS, 'mode': mode}, 'queue': q},
            )
        )
    # ...with apply_async (delay's path), succeeding, failing and retrying...
    sent = [secret_tasks.secret_login.apply_async(ARGS, {**KWARGS, 'mode': mode}, queue=q) for mode in ('ok', 'fail')]
    # ...and through a schedule run now
    schedule = await api.post(
        '/api/v1/schedules',
        json={'name': 'secret-login', 'task': 'test.secret_login', 'kind': 'interval', 'interval_every': 3600,
              'args': ARGS, 'kwargs': KWARGS, 'queue': q},
    )  # fmt: skip
    answers += [schedule, run := await api.post(f'/api/v1/schedules/{schedule.json()["id"]}/run')]
    assert [a.status_code for a in answers] == [202, 202, 202, 201, 202], [a.text for a in answers]
    ids = [a.json()['task_id'] for a in answers if 'task_id' in a.json()] + [r.id for r in sent]
    assert len(ids) == 6 and run.json()['task_id'] in ids
    # When the worker has run them all and Flower has seen them finish
    auth = basic(LOGIN)
    async with httpx.AsyncClient(base_url=flower_url, headers=auth, timeout=30) as flower_client:

        async def flower_tasks() -> dict[str, Any]:
            return (await flower_client.get('/api/tasks')).json()

        def finished(tasks: dict[str, Any]) -> bool:
            return all(tasks.get(task_id, {}).get('state') in FINAL for task_id in ids)

        seen = await wait_async(flower_tasks, finished)
        assert seen[sent[0].id]['result'] and "'token': '***'" in seen[sent[0].id]['result']
        pages = [await flower_client.get(path) for path in ('/api/tasks', '/tasks', '/workers', '/api/workers')]
        pages += [await flower_client.get(f'/task/{task_id}') for task_id in ids]
        pages.append(await flower_client.get(f'/worker/{secret_worker.name}'))
    # Then no API answer shows a secret...
    answers += [await api.get(f'/api/v1/task-results/{task_id}') for task_id in ids]
    answers += [
        await api.get(path)
        for path in ('/api/v1/dead-letters', '/api/v1/schedules', '/api/v1/monitoring/tasks/failed', '/api/v1/tasks')
    ]
    dead = (await api.get('/api/v1/dead-letters')).json()['items']
    answers += [await api.get(f'/api/v1/dead-letters/{item["id"]}') for item in dead]
    found = [f for answer in answers for f in leaks(f'API {answer.request.url.path}', answer.text)]
    # ...nor a Flower page, nor a log: the worker's, Flower's, the API's
    found += [f for page in pages for f in leaks(f'Flower {page.request.url.path}', page.text)]
    assert {page.status_code for page in pages} == {200}
    found += leaks('worker log', secret_worker.log()) + leaks('API log', caplog.text)
    flower_process.stop()
    found += leaks('Flower log', flower_process.log())
    # ...nor Flower's state file, nor any table (but the columns that must keep them)
    found += [
        f for path in flower_dir.glob('flower.db*') for f in leaks(path.name, path.read_bytes().decode('latin-1'))
    ]
    found += table_dump(pg)
    assert found == []
    # And the worker got the real values: the failure quoted them before they were scrubbed
    assert 'refused ann' in str(seen[sent[1].id]['exception'])
