"""Secret arguments travel masked in every message header, and leave no trace in a failure's stored text.

The message bodies keep the real values (the worker needs them); the
`argsrepr`/`kwargsrepr` headers, which logs, events, Flower and inspect show,
do not, whichever way the message was sent.
"""

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import chain, group

from backend.app.task.messaging.dispatch import publish, publish_each, publish_many
from tests.support import secret_tasks
from tests.support.secret_tasks import API_KEY, NESTED_PIN, PASSWORD, SECRETS, TOKEN
from tests.support.wait import wait_for
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.broker

ARGS = ['ann', PASSWORD]
KWARGS = {'api_key': API_KEY, 'profile': {'pin': NESTED_PIN, 'brand': 'visa'}}
MASKED_ARGS = "['ann', '***']"
MASKED_KWARGS = "{'api_key': '***', 'profile': {'pin': '***', 'brand': 'visa'}}"


@pytest.fixture
def raw_queue(celery_app: Any, private_queue: str) -> Iterator[Any]:
    """The private queue, declared as Celery declares it, read message by message (headers and body)."""
    with celery_app.connection_for_read() as conn:
        queue = celery_app.amqp.queues[private_queue](conn.default_channel)
        queue.declare()
        yield queue
        queue.delete()


@pytest.fixture
def secret_worker(make_worker: Any, private_queue: str) -> tuple[WorkerProcess, str]:
    worker = make_worker(queues=private_queue, extra_args=['--include', 'tests.support.secret_tasks'])
    return worker, private_queue


def drain(queue: Any, count: int) -> list[Any]:
    messages: list[Any] = []

    def read() -> bool:
        while (message := queue.get(no_ack=True)) is not None:
            messages.append(message)
        return len(messages) >= count

    wait_for(read, timeout=10, what=f'{count} messages')
    return messages


def test_every_way_of_sending_masks_the_argument_headers_and_keeps_the_body(
    celery_app: Any, raw_queue: Any, private_queue: str
) -> None:
    # Given a task with a secret positional argument and secret keyword arguments (one nested)
    name, q = 'test.secret_login', private_queue
    # When it is sent every way there is
    secret_tasks.secret_login.apply_async(ARGS, KWARGS, queue=q)
    celery_app.send_task(name, args=ARGS, kwargs=KWARGS, queue=q)
    publish(celery_app, name, ARGS, KWARGS, queue=q)
    publish_many(celery_app, name, [(ARGS, KWARGS)] * 2, queue=q)
    chain(secret_tasks.secret_login.s(*ARGS, **KWARGS).set(queue=q), secret_tasks.secret_headers.s().set(queue=q))()
    group([secret_tasks.secret_login.s(*ARGS, **KWARGS).set(queue=q)] * 2)()
    # Then each message's headers are masked and its body holds the real call
    messages = drain(raw_queue, 8)
    assert [(m.headers['argsrepr'], m.headers['kwargsrepr']) for m in messages] == [(MASKED_ARGS, MASKED_KWARGS)] * 8
    assert all(json.loads(m.body)[:2] == [ARGS, KWARGS] for m in messages)


def test_a_task_this_process_does_not_know_has_every_positional_argument_masked(
    celery_app: Any, raw_queue: Any, private_queue: str
) -> None:
    # Given a call of a task not registered here, sent the way beat sends due schedules
    publish_each(celery_app, [('other.login', ARGS, KWARGS, {'task_id': 'sched-1:1', 'queue': private_queue})])
    # Then no positional argument shows, since any may be a secret
    [message] = drain(raw_queue, 1)
    assert (message.headers['argsrepr'], message.headers['kwargsrepr']) == ("['***', '***']", MASKED_KWARGS)


def test_retries_and_chain_steps_sent_by_the_worker_are_masked_too(
    secret_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    worker, q = secret_worker
    # Given a task that retries once (its retry message sent by the worker)
    retried = secret_tasks.secret_login.apply_async(ARGS, {**KWARGS, 'mode': 'retry'}, queue=q)
    # and a chain whose second step gets the first one's result, a token
    chained = chain(
        secret_tasks.secret_login.s(*ARGS, **KWARGS).set(queue=q), secret_tasks.secret_headers.s().set(queue=q)
    )()
    # Then the retry ran with masked headers, and the chain's second step too (the token masked in the result)
    assert retried.get(timeout=60)['headers'] == [MASKED_ARGS, MASKED_KWARGS[:-1] + ", 'mode': 'retry'}"]
    args_repr, _ = chained.get(timeout=60)
    assert TOKEN not in args_repr and "'token': '***'" in args_repr
    # And neither the stored calls, nor the retry's stored reason, nor the worker's log shows a secret
    rows = pg.execute(
        'SELECT task_id, args::text, kwargs::text, traceback FROM task_result WHERE task_id = ANY(%s)',
        [[retried.id, chained.id, chained.parent.id]],
    ).fetchall()
    assert len(rows) == 3
    assert not [s for s in SECRETS for row in rows if s in str(row)]
    assert not [s for s in SECRETS if s in worker.log()]


def test_a_failure_is_stored_and_dead_lettered_with_the_secret_values_scrubbed(
    secret_worker: tuple[WorkerProcess, str], pg: psycopg.Connection
) -> None:
    worker, q = secret_worker
    # Given a task whose exception message quotes its secret arguments
    failed = secret_tasks.secret_login.apply_async(ARGS, {**KWARGS, 'mode': 'fail'}, queue=q)
    # When it has failed for good
    wait_for(
        lambda: pg.execute('SELECT 1 FROM task_dead_letter WHERE task_id = %s', [failed.id]).fetchone(),
        timeout=60,
        what='the dead letter',
    )
    # Then its stored error, traceback and dead letter carry the mask instead of the values
    result, traceback = pg.execute(
        'SELECT result::text, traceback FROM task_result WHERE task_id = %s', [failed.id]
    ).fetchone() or (None, None)
    assert "password '***', key ***, pin ***" in result
    message, dead_traceback = pg.execute(
        'SELECT exception_message, traceback FROM task_dead_letter WHERE task_id = %s', [failed.id]
    ).fetchone() or (None, None)
    assert message == "refused ann: password '***', key ***, pin ***"
    assert not [s for s in SECRETS for text in (result, traceback, message, dead_traceback) if s in text]
    # And the worker's log lines, Celery's error line with its traceback included, show none of them
    wait_for(lambda: 'raised unexpected' in worker.log(), timeout=10, what="Celery's failure line")
    assert not [s for s in SECRETS if s in worker.log()]


@pytest.mark.parametrize('name', ['test.secret_login', 'test.secret_own_request'])
def test_celery_inspect_shows_a_waiting_call_masked(
    celery_app: Any, secret_worker: tuple[WorkerProcess, str], name: str
) -> None:
    worker, q = secret_worker
    # Given a call the worker holds until its countdown ends (of a task with the worker's request class, or its own)
    waiting = celery_app.tasks[name].apply_async(ARGS, KWARGS, queue=q, countdown=600)
    inspect = celery_app.control.inspect(destination=[worker.name], timeout=2)

    def scheduled() -> list[Any]:
        return [entry['request'] for entry in (inspect.scheduled() or {}).get(worker.name, [])]

    try:
        # Then `celery inspect scheduled` shows its call as the masked headers, not the decoded arguments
        [request] = wait_for(scheduled, timeout=30, what='the call to be scheduled on the worker')
        assert (request['id'], request['args'], request['kwargs']) == (waiting.id, MASKED_ARGS, MASKED_KWARGS)
    finally:
        waiting.revoke()
