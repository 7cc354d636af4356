"""The PostgreSQL result backend's storage hooks, against the real database."""

import threading
import uuid
from typing import Any

import psycopg
from celery import states
from celery.app.task import Context
from celery.result import GroupResult

from backend.app.task.crud import crud_result


def test_store_and_read_back_a_result_with_extended_fields(celery_app: Any) -> None:
    backend = celery_app.backend
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, {'answer': [1, 2]}, states.SUCCESS)
    meta = backend.get_task_meta(task_id, cache=False)
    assert (meta['status'], meta['result']) == (states.SUCCESS, {'answer': [1, 2]})
    assert meta['date_done'] is not None


def test_success_is_never_overwritten_by_a_later_state(celery_app: Any) -> None:
    backend = celery_app.backend
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, 7, states.SUCCESS)
    backend.store_result(task_id, None, states.STARTED)
    assert backend.get_task_meta(task_id, cache=False)['status'] == states.SUCCESS


def test_failure_is_decoded_back_to_the_exception_type(celery_app: Any) -> None:
    backend = celery_app.backend
    task_id = str(uuid.uuid4())
    backend.mark_as_failure(task_id, KeyError('missing'))
    assert isinstance(backend.get_task_meta(task_id, cache=False)['result'], KeyError)


def test_forget_removes_the_row(celery_app: Any) -> None:
    task_id = str(uuid.uuid4())
    celery_app.backend.store_result(task_id, 1, states.SUCCESS)
    celery_app.AsyncResult(task_id).forget()
    assert celery_app.backend.get_task_meta(task_id, cache=False)['status'] == states.PENDING


def test_group_results_save_restore_and_delete(celery_app: Any) -> None:
    group_id = str(uuid.uuid4())
    members = [celery_app.AsyncResult(str(uuid.uuid4())) for _ in range(3)]
    GroupResult(group_id, members, app=celery_app).save()
    restored = GroupResult.restore(group_id, app=celery_app)
    assert [r.id for r in restored.results] == [r.id for r in members]
    restored.delete()
    assert GroupResult.restore(group_id, app=celery_app) is None


def test_cleanup_purges_only_expired_results(celery_app: Any, pg: psycopg.Connection) -> None:
    old_id, new_id = str(uuid.uuid4()), str(uuid.uuid4())
    for task_id in (old_id, new_id):
        celery_app.backend.store_result(task_id, 1, states.SUCCESS)
    pg.execute(
        "UPDATE task_result SET date_done = now() - make_interval(secs => %s) - interval '1 minute' WHERE task_id = %s",
        [celery_app.backend.expires, old_id],
    )
    celery_app.backend.cleanup()
    remaining = {
        r[0] for r in pg.execute('SELECT task_id FROM task_result WHERE task_id = ANY(%s)', [[old_id, new_id]])
    }
    assert remaining == {new_id}


def test_cleanup_purges_only_expired_groups_and_chord_counters(celery_app: Any, pg: psycopg.Connection) -> None:
    # Given an old and a fresh saved group, each with an unfinished chord counter
    old_id, new_id = str(uuid.uuid4()), str(uuid.uuid4())
    for group_id in (old_id, new_id):
        GroupResult(group_id, [celery_app.AsyncResult(str(uuid.uuid4()))], app=celery_app).save()
        celery_app.backend.set_chord_size(group_id, 1)
    age = "now() - make_interval(secs => %s) - interval '1 minute'"
    pg.execute(
        f'UPDATE task_group_result SET date_done = {age} WHERE group_id = %s', [celery_app.backend.expires, old_id]
    )
    pg.execute(f'UPDATE task_chord SET date_created = {age} WHERE group_id = %s', [celery_app.backend.expires, old_id])
    # When the cleanup task's backend call runs
    celery_app.backend.cleanup()
    # Then only the fresh group and counter remain
    ids = [old_id, new_id]
    groups = {r[0] for r in pg.execute('SELECT group_id FROM task_group_result WHERE group_id = ANY(%s)', [ids])}
    chords = {r[0] for r in pg.execute('SELECT group_id FROM task_chord WHERE group_id = ANY(%s)', [ids])}
    assert (groups, chords) == ({new_id}, {new_id})


def test_started_is_committed_lazily_without_changing_the_connection(celery_app: Any, pg: psycopg.Connection) -> None:
    backend = celery_app.backend
    task_id = str(uuid.uuid4())
    # When a STARTED state is stored (its commit does not wait for the disk), then the result (it does)
    backend.store_result(task_id, None, states.STARTED)
    # Then the STARTED row is visible at once to every other session, and the result replaces it
    assert pg.execute('SELECT status FROM task_result WHERE task_id = %s', [task_id]).fetchone() == ('STARTED',)
    backend.store_result(task_id, 3, states.SUCCESS)
    assert pg.execute('SELECT status FROM task_result WHERE task_id = %s', [task_id]).fetchone() == ('SUCCESS',)
    # And a lazy commit is its own transaction's: the connection (a pooled one behind PgBouncer) keeps its setting
    before = pg.execute('SHOW synchronous_commit').fetchone()
    row = backend.result_row(str(uuid.uuid4()), None, states.STARTED, None, None)
    crud_result.store_results(pg, [row], lazy_commit=True)
    assert pg.execute('SHOW synchronous_commit').fetchone() == before


def _store(backend: Any, task_id: str, state: str, retries: int, result: Any = None) -> None:
    backend.store_result(task_id, result, state, request=Context(id=task_id, task='t.x', retries=retries, args=[]))


def test_a_late_started_row_never_replaces_the_outcome_of_its_attempt(celery_app: Any) -> None:
    # A prefork worker's main process writes STARTED in batches, so the row can come after the attempt's outcome
    backend = celery_app.backend
    for outcome in (states.FAILURE, states.RETRY, 'PROGRESS'):
        task_id = str(uuid.uuid4())
        _store(backend, task_id, outcome, retries=1, result=ValueError('x') if outcome != 'PROGRESS' else {'n': 1})
        _store(backend, task_id, states.STARTED, retries=1)
        assert backend.get_task_meta(task_id, cache=False)['status'] == outcome


def test_a_started_row_replaces_a_started_row_and_an_earlier_attempts_state(celery_app: Any) -> None:
    backend = celery_app.backend
    task_id = str(uuid.uuid4())
    # Given the first attempt started, then ended in RETRY
    _store(backend, task_id, states.STARTED, retries=0)
    _store(backend, task_id, states.RETRY, retries=0, result=ValueError('again'))
    # When the second attempt starts (its message is delivered again: STARTED twice), it shows as STARTED
    _store(backend, task_id, states.STARTED, retries=1)
    _store(backend, task_id, states.STARTED, retries=1)
    assert backend.get_task_meta(task_id, cache=False)['status'] == states.STARTED


def test_a_retries_header_that_is_no_count_still_leaves_the_result_stored(celery_app: Any) -> None:
    # A message published by other code can carry any JSON as its `retries` header
    backend = celery_app.backend
    for hostile in ('abc', 2**40, -1, True, 1.5, [1]):
        task_id = str(uuid.uuid4())
        backend.store_result(task_id, 7, states.SUCCESS, request=Context(id=task_id, task='t.x', retries=hostile))
        meta = backend.get_task_meta(task_id, cache=False)
        assert (meta['status'], meta['result'], meta['retries']) == (states.SUCCESS, 7, None), hostile


def test_two_sessions_storing_the_same_tasks_in_opposite_orders_never_deadlock(
    celery_app: Any, test_run: Any, pg: psycopg.Connection
) -> None:
    # A prefork worker's STARTED writer and its result relay store overlapping batches of task ids from two sessions
    backend = celery_app.backend
    batches = [[str(uuid.uuid4()) for _ in range(50)] for _ in range(40)]
    errors: list[Exception] = []

    def store(state: str, order: int) -> None:
        with psycopg.connect(test_run.dsn, autocommit=True) as conn:
            for task_ids in batches:
                rows = [backend.result_row(task_id, None, state, None, None) for task_id in task_ids[::order]]
                try:
                    crud_result.store_results(conn, rows, lazy_commit=state == states.STARTED)
                except psycopg.Error as error:
                    errors.append(error)

    # When both write each batch at the same moment, one in id order and the other in the reverse order
    writers = [
        threading.Thread(target=store, args=(states.STARTED, 1)),
        threading.Thread(target=store, args=(states.SUCCESS, -1)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    # Then every statement went through (PostgreSQL found no deadlock to break), and every outcome is stored
    assert errors == []
    task_ids = [task_id for batch in batches for task_id in batch]
    succeeded = pg.execute(
        "SELECT count(*) FROM task_result WHERE task_id = ANY(%s) AND status = 'SUCCESS'", [task_ids]
    ).fetchone()
    assert succeeded == (len(task_ids),)
