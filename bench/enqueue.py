"""Bulk enqueue: 50,000 calls through `task_service.send_batch` against a raw py-amqp publish loop.

Ours builds the headers once, publishes over one connection and waits for
RabbitMQ's publisher confirms per window (so every returned id is on the
broker). Baseline: the fastest a Python client can push the same bodies, a
py-amqp `basic_publish` loop of one prebuilt persistent message with the same
headers and body as a task message, in the same run: without publisher
confirms, its clock stopped by one round trip after the loop (RabbitMQ answers
it once it has taken every message before it on the channel; stopped at the
last socket write instead, the loop also counts messages still in the
client's socket buffer, and that figure is printed too), and with confirms,
the same guarantee as ours. For context also stock `send_task` one call at a
time. Run: `.venv/bin/python -m bench.enqueue`.
"""

import argparse
import time
from typing import Any

import amqp
from kombu.utils.json import dumps
from kombu.utils.uuid import uuid

from bench.support import private_services, report


def raw_amqp_rate(
    count: int, queue: str, vhost: str, headers: dict[str, Any], body: str, confirm: bool
) -> tuple[float, float]:
    """Publish one prebuilt message with a task message's headers and body `count` times (confirmed or not).

    Returns (rate with the clock stopped at the last write, rate until the broker has them all).
    """
    with amqp.Connection('127.0.0.1:5672', userid='guest', password='guest', virtual_host=vhost) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        message = amqp.Message(
            body,
            application_headers=headers,
            correlation_id=headers['id'],
            content_type='application/json',
            content_encoding='utf-8',
            delivery_mode=2,
        )
        confirmed = [0]
        if confirm:
            channel.confirm_select()
            channel.events['basic_ack'].add(lambda tag, multiple: confirmed.__setitem__(0, tag))
        start = time.perf_counter()
        for _ in range(count):
            channel.basic_publish(message, exchange='', routing_key=queue)
        written = time.perf_counter() - start
        while confirm and confirmed[0] < count:
            connection.drain_events(timeout=30)
        channel.queue_declare(queue, passive=True)  # answered after every publish before it on this channel
        taken = time.perf_counter() - start
        channel.queue_delete(queue)
    return count / written, count / taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--calls', type=int, default=50_000)
    parser.add_argument('--single-calls', type=int, default=3_000)
    options = parser.parse_args()
    with private_services('rabbitmq', queues=('bench-ours',)) as run:
        from backend.app.task.celery import task_app
        from backend.app.task.schema.task import SendTaskOptions
        from backend.app.task.service import task_service

        celery_app = task_app()

        items = [([i, 1], {}) for i in range(options.calls)]
        sample = celery_app.amqp.as_task_v2(uuid(), 'task.add', [1, 1], {})
        raw_written, raw = raw_amqp_rate(
            options.calls, 'bench-raw', run.vhost, sample.headers, dumps(sample.body), confirm=False
        )
        _, raw_confirmed = raw_amqp_rate(
            options.calls, 'bench-raw-confirmed', run.vhost, sample.headers, dumps(sample.body), confirm=True
        )
        start = time.perf_counter()
        ids = task_service.send_batch(celery_app, 'task.add', items, SendTaskOptions(queue='bench-ours'))
        ours = len(ids) / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(options.single_calls):
            celery_app.send_task('task.add', args=[i, 1], queue='bench-single')
        single = options.single_calls / (time.perf_counter() - start)
        report('bulk enqueue, RabbitMQ', ours, raw, 'calls/s', 'raw py-amqp publish loop (no confirms)')
        report('bulk enqueue, RabbitMQ', ours, raw_confirmed, 'calls/s', 'raw py-amqp loop with publisher confirms')
        print(
            f'  for context: the raw loop without confirms, clock stopped at its last socket write, '
            f'{raw_written:,.0f} calls/s (ours {ours / raw_written:.2f}x); '
            f'stock send_task one call at a time (confirmed) {single:,.0f} calls/s'
        )


if __name__ == '__main__':
    main()
