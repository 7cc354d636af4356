"""Fetching many Redis messages per round trip (`redis_fetch`): order, unacked bookkeeping, give-back, no loss.

The kombu-level tests consume with the framework's Redis transport options on
this run's Redis database; the worker test kills a throughput-tuned solo worker
mid-run and checks every task still ends with a stored result.
"""

import base64
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from kombu import Connection, Exchange, Queue
from kombu.message import Message

from backend.app.task.messaging import redis_fetch
from backend.app.task.messaging.queues import redis_priority_options
from backend.core.conf import get_settings
from tests.support.reliability import INCLUDE, create_log_table, runs_per_task
from tests.support.wait import wait_for
from tests.support.worker import start_worker

BROKER = os.environ.get('CELERY_BROKER', 'rabbitmq')
SHORT_VISIBILITY_APP = 'tests.support.short_visibility_app:celery_app'
#: The worker settings of the throughput profile (README, Performance).
THROUGHPUT_ENV = {
    'CELERY_WORKER_POOL': 'solo',
    'CELERY_WORKER_PREFETCH_MULTIPLIER': '200',
    'TASK_TRACK_STARTED': 'false',
    'TASK_RESULT_BATCH': '100',
}


def redis_url() -> str:
    settings = get_settings()
    password = settings.REDIS_PASSWORD.get_secret_value()
    auth = f':{password}@' if password else ''
    return f'redis://{auth}{settings.REDIS_HOST}:{settings.REDIS_PORT}/{settings.CELERY_BROKER_REDIS_DATABASE}'


@pytest.fixture
def connection() -> Iterator[Connection]:
    with Connection(redis_url(), transport_options=redis_priority_options()) as conn:
        redis_fetch.install(conn)
        yield conn


@pytest.fixture
def queue(connection: Connection) -> Iterator[Queue]:
    name = f'fetch-{uuid.uuid4().hex[:8]}'
    declared = Queue(name, Exchange(name, type='direct'), routing_key=name)
    declared(connection.default_channel).declare()
    yield declared
    declared(connection.default_channel).delete()


def publish(connection: Connection, queue: Queue, bodies: list[tuple[int, int]]) -> None:
    """Publish `(number, stored priority)` bodies; on Redis the stored priority 0 is read first."""
    with connection.Producer() as producer:
        for number, priority in bodies:
            producer.publish({'n': number}, exchange=queue.exchange, routing_key=queue.routing_key, priority=priority)


def stored_results(pg: psycopg.Connection, task_ids: set[str]) -> set[str]:
    rows = pg.execute(
        "SELECT task_id FROM task_result WHERE status = 'SUCCESS' AND task_id = ANY(%s)", [list(task_ids)]
    )
    return {row[0] for row in rows}


def unacked(channel: Any) -> tuple[int, int]:
    client = channel.client
    return client.hlen(channel.unacked_key), client.zcard(channel.unacked_index_key)


def test_one_drain_takes_the_prefetch_credit_in_priority_order_each_message_recorded_unacked(
    connection: Connection, queue: Queue
) -> None:
    # Given 30 messages, the even ones stored at the most urgent priority, the odd ones at the least
    publish(connection, queue, [(n, 0 if n % 2 == 0 else 9) for n in range(30)])
    channel = connection.default_channel
    assert isinstance(channel, redis_fetch.FetchManyChannel)
    received: list[Message] = []
    # When a consumer with a prefetch of 20 drains once
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(message)]) as consumer:
        consumer.qos(prefetch_count=20)
        connection.drain_events(timeout=5)
        # Then one read handed over 20 messages: the 15 urgent ones first, in publish order, then 5 others
        numbers = [message.payload['n'] for message in received]
        assert numbers == [*range(0, 30, 2), *range(1, 11, 2)]
        # and each of them is recorded in the unacked hash and index, as kombu records the one BRPOP took
        assert unacked(channel) == (20, 20)
        assert not channel.qos.recorded
        for message in received:
            message.ack()
        assert unacked(channel) == (0, 0)
        # and the rest follow once credit is back
        connection.drain_events(timeout=5)
        assert sorted(message.payload['n'] for message in received[20:]) == list(range(11, 30, 2))
        for message in received[20:]:
            message.ack()
    assert unacked(channel) == (0, 0)


def test_a_message_restored_from_the_unacked_hash_is_the_one_fetched(connection: Connection, queue: Queue) -> None:
    # Given 5 fetched messages never acknowledged
    publish(connection, queue, [(n, 0) for n in range(5)])
    channel = connection.default_channel
    received: list[Message] = []
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(message)]) as consumer:
        consumer.qos(prefetch_count=10)
        connection.drain_events(timeout=5)
        assert len(received) == 5
        # When kombu restores them from the unacked hash (as after the visibility timeout)
        for message in received:
            channel.qos.restore_by_tag(message.delivery_tag)
    # Then each is back in its queue whole, marked redelivered, and nothing is left unacked
    assert unacked(channel) == (0, 0)
    again = [channel.basic_get(queue.name, no_ack=True) for _ in range(5)]
    assert sorted(m.payload['n'] for m in again) == list(range(5))
    assert all(m.delivery_info['redelivered'] for m in again)
    assert {m.delivery_tag for m in again} == {m.delivery_tag for m in received}


def test_past_the_delivery_budget_the_rest_goes_back_to_the_head_of_the_queue_in_order(
    connection: Connection, queue: Queue
) -> None:
    # Given 10 messages, and a consumer whose third message uses up the batch's time budget
    publish(connection, queue, [(n, 0) for n in range(10)])
    channel = connection.default_channel
    received: list[Message] = []

    def on_message(body: Any, message: Message) -> None:
        received.append(message)
        if len(received) == 3:
            channel.delivery_budget = -1.0

    with connection.Consumer(queue, callbacks=[on_message]) as consumer:
        consumer.qos(prefetch_count=10)
        connection.drain_events(timeout=5)
        # Then only those three were handed over and recorded; the seven others are queued again, first in line
        assert [m.payload['n'] for m in received] == [0, 1, 2]
        assert unacked(channel) == (3, 3)
        assert not channel.qos.recorded
        channel.delivery_budget = redis_fetch.DELIVERY_BUDGET
        # (the next batches are smaller, as many as fitted, then grow again)
        while len(received) < 10:
            connection.drain_events(timeout=5)
        assert [m.payload['n'] for m in received] == list(range(10))
        # never delivered, so not marked redelivered
        assert not any(m.delivery_info.get('redelivered') for m in received)
        for message in received:
            message.ack()
    assert unacked(channel) == (0, 0)


def test_json_that_only_redis_reads_goes_back_to_the_head_of_its_queue_with_what_came_after_it(
    connection: Connection, queue: Queue
) -> None:
    # Given two messages, then one pushed by other code whose JSON Redis's cjson reads but Python's does not (a hex
    # number), then two more
    publish(connection, queue, [(0, 0), (1, 0)])
    channel = connection.default_channel
    hostile = (
        '{"body": "e30=", "content-type": "application/json", "content-encoding": "utf-8", "headers": {}, '
        f'"properties": {{"delivery_tag": "{uuid.uuid4()}", "body_encoding": "base64", "priority": 0, '
        f'"delivery_info": {{"exchange": "{queue.name}", "routing_key": "{queue.name}"}}}}, "x": 0x10}}'
    )
    channel.client.lpush(queue.name, hostile)
    publish(connection, queue, [(2, 0), (3, 0)])
    received: list[Message] = []
    # When a consumer with room for all of them drains once
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(message)]) as consumer:
        consumer.qos(prefetch_count=10)
        connection.drain_events(timeout=5)
        # Then the two before it are handed over; it and the two after it are first in line again, in order, and
        # none of them is left recorded as unacknowledged (kombu's own read meets it next, as without the fetch)
        assert [m.payload['n'] for m in received] == [0, 1]
        assert unacked(channel) == (2, 2)
        assert not channel.qos.recorded
        head_first = [item.decode() for item in reversed(channel.client.lrange(queue.name, 0, -1))]
        assert head_first[0] == hostile
        assert [json.loads(base64.b64decode(json.loads(item)['body']))['n'] for item in head_first[1:]] == [2, 3]
        for message in received:
            message.ack()
    assert unacked(channel) == (0, 0)


def test_a_prefetch_of_one_fetches_nothing_more(connection: Connection, queue: Queue) -> None:
    publish(connection, queue, [(n, 0) for n in range(3)])
    received: list[Message] = []
    with connection.Consumer(queue, callbacks=[lambda body, message: received.append(message)]) as consumer:
        consumer.qos(prefetch_count=1)
        connection.drain_events(timeout=5)
        assert len(received) == 1
        received[0].ack()


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(BROKER != 'redis', reason='fetching many per round trip is Redis only')
def test_kill_9_of_a_throughput_tuned_solo_worker_on_redis_loses_no_task(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given 3,000 tasks that each record their id, and a throughput-tuned solo worker (prefetch 200, results
    # batched by 100) with a 2 s visibility timeout, part-way through them
    create_log_table(pg)
    run = uuid.uuid4().hex
    sent = {celery_app.send_task('reliability.record', args=[run], queue=private_queue).id for _ in range(3000)}
    first = start_worker(
        celery_app, app_path=SHORT_VISIBILITY_APP, queues=private_queue, extra_env=THROUGHPUT_ENV, extra_args=INCLUDE
    )
    try:
        wait_for(lambda: len(runs_per_task(pg, run)) >= 500, timeout=120, what='500 tasks to run')
        # When it is killed with SIGKILL (fetched messages and uncommitted results lost with it), and another starts
        first.kill()
        ran_before_kill = len(runs_per_task(pg, run))
        make_worker(app_path=SHORT_VISIBILITY_APP, queues=private_queue, extra_env=THROUGHPUT_ENV, extra_args=INCLUDE)
        # Then every task ran and every one ends with its result stored: the fetched ones came back after the
        # visibility timeout
        wait_for(lambda: set(runs_per_task(pg, run)) == sent, timeout=180, what='every task to run')
        wait_for(lambda: stored_results(pg, sent) == sent, timeout=60, what='every result stored')
        runs = runs_per_task(pg, run)
        twice = sum(1 for count in runs.values() if count > 1)
        print(f'\nkill -9 after {ran_before_kill} of 3000 tasks: {twice} ran twice ({sum(runs.values())} runs)')
    finally:
        first.kill()
