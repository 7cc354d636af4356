"""Queues, priorities and delivery guarantees on the real broker (both kinds, unless marked)."""

import os
import socket
import subprocess
import time
import uuid
from typing import Any

import psycopg
import pytest
from celery import Celery

from backend.app.task.celery import celery_config
from backend.app.task.messaging.dispatch import publish
from backend.app.task.messaging.errors import BrokerUnavailable
from backend.core.conf import load_settings
from tests.support.reliability import INCLUDE, create_log_table, logged
from tests.support.wait import wait_for

pytestmark = pytest.mark.broker
BROKER = os.environ.get('CELERY_BROKER', 'rabbitmq')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_backlog_runs_higher_priority_first(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a backlog on a queue nobody consumes yet: 10 tasks at priority 0, then 10 at priority 9
    create_log_table(pg)
    run = uuid.uuid4().hex
    low = [celery_app.send_task('reliability.record', args=[run], queue=private_queue, priority=0) for _ in range(10)]
    high = [celery_app.send_task('reliability.record', args=[run], queue=private_queue, priority=9) for _ in range(10)]
    # When one worker taking one message at a time starts on it
    make_worker(queues=private_queue, pool='solo', extra_args=INCLUDE)
    wait_for(lambda: len(logged(pg, run)) == 20, timeout=60, what='the backlog to drain')
    # Then every high-priority task ran before any low-priority one
    order = [task_id for task_id, _, _, _ in logged(pg, run)]
    assert set(order[:10]) == {r.id for r in high}
    assert set(order[10:]) == {r.id for r in low}


def test_child_inheriting_its_parents_priority_runs_as_urgently(
    celery_app: Any, make_worker: Any, private_queue: str, pg: psycopg.Connection
) -> None:
    # Given a backlog of 10 tasks at priority 0, then a parent at priority 9 that sends three children: two
    # inheriting its priority (send_task, apply_async), one given the priority the parent reads in delivery_info
    create_log_table(pg)
    run = uuid.uuid4().hex
    low = [celery_app.send_task('reliability.record', args=[run], queue=private_queue, priority=0) for _ in range(10)]
    celery_app.send_task('reliability.spawn_children', args=[run, private_queue], queue=private_queue, priority=9)
    # When one worker taking one message at a time drains the queue
    make_worker(queues=private_queue, pool='solo', extra_args=INCLUDE)
    wait_for(lambda: len(logged(pg, run)) == 14, timeout=60, what='the backlog to drain')
    # Then parent and children read priority 9, as sent, on both brokers (Redis stores it inverted), and the
    # children ran before the backlog, but for what the worker had already reserved
    values = [value for _, value, _, _ in logged(pg, run)]
    children = ['sent 9', 'applied 9', 'copied 9']
    assert values[0] == 'parent 9' and set(children) <= set(values), values
    assert max(map(values.index, children)) <= 5, values
    assert {task_id for task_id, value, _, _ in logged(pg, run) if value == 'ran'} == {r.id for r in low}


def test_task_queue_option_routes_to_that_queue(celery_app: Any) -> None:
    route = celery_app.amqp.router.route({}, 'task.ping')
    assert route['queue'].name == 'default'
    assert celery_app.amqp.router.route({'queue': 'critical'}, 'task.ping')['queue'].name == 'critical'


def test_send_while_the_broker_is_down_raises_broker_unavailable_after_a_bounded_retry() -> None:
    # Given an app with our delivery settings whose broker port has nothing listening
    port = _free_port()
    url = f'redis://127.0.0.1:{port}/0' if BROKER == 'redis' else f'amqp://guest:guest@127.0.0.1:{port}//'
    settings = load_settings(None).model_copy(update={'CELERY_BROKER_URL': None})
    app = Celery('down', set_as_current=False)
    app.conf.update({**celery_config(settings), 'broker_url': url})
    # When a task is sent
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match='Nothing was sent'):
        publish(app, 'task.ping', [], {})
    # Then the caller hears of it within the retry policy's bound (3 retries, at most 1 s apart), not never
    assert time.monotonic() - started < 15


@pytest.mark.rabbitmq_only
def test_rabbitmq_queues_are_durable_with_max_priority_and_messages_persistent(
    celery_app: Any, test_run: Any, private_queue: str
) -> None:
    if BROKER != 'rabbitmq':
        pytest.skip('RabbitMQ only')
    # Given a task waiting on a queue with no consumer
    celery_app.send_task('task.ping', queue=private_queue)
    # Then RabbitMQ holds the queue durable, with x-max-priority, and the message on disk
    listing = subprocess.run(
        [
            'rabbitmqctl',
            '-q',
            'list_queues',
            '-p',
            test_run.vhost,
            'name',
            'durable',
            'arguments',
            'messages_persistent',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    line = next(line for line in listing.splitlines() if line.startswith(private_queue))
    _, durable, *rest = line.split('\t')
    assert durable == 'true'
    assert 'x-max-priority' in ''.join(rest) and rest[-1] == '1'
