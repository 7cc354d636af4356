"""`/api/v1/dead-letters`: tasks a real worker gave up on, shown redacted, requeued, deleted and purged."""

from typing import Any

import httpx
import psycopg
import pytest

from tests.support.api import assert_error
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

# Only the tests that go through the broker run once per broker kind (marked broker).


def dead_letter_of(pg: psycopg.Connection, task_id: str) -> int:
    def found() -> int | None:
        row = pg.execute('SELECT id FROM task_dead_letter WHERE task_id = %s', (task_id,)).fetchone()
        return row[0] if row else None

    return wait_for(found, timeout=60, what=f'dead letter of {task_id}')


@pytest.fixture
def failed(worker: WorkerProcess, celery_app: Any, pg: psycopg.Connection) -> tuple[int, str]:
    """(dead letter id, task id) of a task.add call that failed on the worker, carrying a secret."""
    task_id = celery_app.send_task('task.add', args=[1, 2], kwargs={'api_key': 'sekret-value-42'}).id
    return dead_letter_of(pg, task_id), task_id


async def test_list_dead_letters_shows_a_failed_task_redacted(api: httpx.AsyncClient, failed: tuple[int, str]) -> None:
    pk, task_id = failed
    response = await api.get('/api/v1/dead-letters', params={'task_name': 'task.add', 'reason': 'non_retryable'})
    assert response.status_code == 200, response.text
    shown = {item['id']: item for item in response.json()['items']}
    assert shown[pk]['task_id'] == task_id and shown[pk]['exception_type'] == 'TypeError'
    assert shown[pk]['kwargs'] == {'api_key': '***'}
    assert 'sekret-value-42' not in response.text


async def test_list_dead_letters_filters_and_refuses_bad_filters(
    api: httpx.AsyncClient, failed: tuple[int, str]
) -> None:
    other = (await api.get('/api/v1/dead-letters', params={'task_name': 'no.such_task'})).json()
    assert other == {'items': [], 'total': 0, 'limit': 20, 'offset': 0}
    assert_error(await api.get('/api/v1/dead-letters', params={'reason': 'bored'}), 422, 'reason')
    assert_error(await api.get('/api/v1/dead-letters', params={'failed_after': '12'}), 422, 'ISO 8601')


async def test_get_dead_letter_shows_one_and_404s_an_unknown_id(
    api: httpx.AsyncClient, failed: tuple[int, str]
) -> None:
    pk, task_id = failed
    response = await api.get(f'/api/v1/dead-letters/{pk}')
    assert response.status_code == 200 and response.json()['task_id'] == task_id
    assert 'Traceback' in response.json()['traceback']
    assert_error(await api.get('/api/v1/dead-letters/999999999'), 404, 'No dead letter has id 999999999')


@pytest.mark.broker
async def test_requeue_dead_letter_sends_the_task_again(
    api: httpx.AsyncClient, failed: tuple[int, str], celery_app: Any
) -> None:
    # Given a dead letter, when it is requeued
    pk, _ = failed
    response = await api.post(f'/api/v1/dead-letters/{pk}/requeue')
    # Then it names the new task, which a worker runs (and, with the same bad call, fails again)
    assert response.status_code == 200, response.text
    new_id = response.json()['requeued_task_id']
    assert new_id and response.json()['requeued_at']
    celery_app.AsyncResult(new_id).get(timeout=30, interval=0.05, propagate=False)
    assert celery_app.AsyncResult(new_id).state == 'FAILURE'
    assert_error(await api.post('/api/v1/dead-letters/999999999/requeue'), 404)


@pytest.mark.broker
async def test_requeue_dead_letter_twice_needs_again(api: httpx.AsyncClient, failed: tuple[int, str]) -> None:
    # Given a dead letter requeued once
    pk, _ = failed
    first = (await api.post(f'/api/v1/dead-letters/{pk}/requeue')).json()['requeued_task_id']
    # When it is requeued again, then that is refused naming the first requeue's task id
    assert_error(await api.post(f'/api/v1/dead-letters/{pk}/requeue'), 409, f'already requeued as task {first}')
    # Unless it is meant
    again = await api.post(f'/api/v1/dead-letters/{pk}/requeue', params={'again': 'true'})
    assert again.status_code == 200, again.text
    assert again.json()['requeued_task_id'] not in (None, first)


async def test_requeue_dead_letter_without_a_task_name_is_409(api: httpx.AsyncClient, pg: psycopg.Connection) -> None:
    row = pg.execute(
        "INSERT INTO task_dead_letter (reason, body) VALUES ('undecodable', 'not json') RETURNING id"
    ).fetchone()
    assert row is not None
    assert_error(await api.post(f'/api/v1/dead-letters/{row[0]}/requeue'), 409, 'no task name')


async def test_delete_dead_letter_removes_it(api: httpx.AsyncClient, failed: tuple[int, str]) -> None:
    pk, _ = failed
    assert (await api.delete(f'/api/v1/dead-letters/{pk}')).status_code == 204
    assert_error(await api.get(f'/api/v1/dead-letters/{pk}'), 404)
    assert_error(await api.delete(f'/api/v1/dead-letters/{pk}'), 404)


async def test_purge_dead_letters_deletes_what_the_filter_matches(
    api: httpx.AsyncClient, failed: tuple[int, str], pg: psycopg.Connection
) -> None:
    # Given a dead letter of task.add and one without a task name
    pk, _ = failed
    pg.execute("INSERT INTO task_dead_letter (reason, body) VALUES ('undecodable', '{}')")
    # When task.add's are purged
    response = await api.post('/api/v1/dead-letters/purge', json={'task_name': 'task.add'})
    # Then those went and the other stayed
    assert response.status_code == 200, response.text
    assert response.json()['purged'] >= 1
    assert_error(await api.get(f'/api/v1/dead-letters/{pk}'), 404)
    assert (await api.get('/api/v1/dead-letters', params={'reason': 'undecodable'})).json()['total'] >= 1


async def test_purge_dead_letters_needs_a_filter_or_all(api: httpx.AsyncClient, pg: psycopg.Connection) -> None:
    assert_error(await api.post('/api/v1/dead-letters/purge', json={}), 422, '?all=true')
    row = pg.execute("INSERT INTO task_dead_letter (reason, body) VALUES ('undecodable', '{}') RETURNING id").fetchone()
    assert row is not None
    response = await api.post('/api/v1/dead-letters/purge', params={'all': 'true'}, json={})
    assert response.status_code == 200 and response.json()['purged'] >= 1
    assert_error(await api.get(f'/api/v1/dead-letters/{row[0]}'), 404)
