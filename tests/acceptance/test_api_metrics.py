"""`GET /metrics` of the API: queue depths, dead letters, enabled schedules and beat's dispatch lag, for Prometheus."""

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend.app.task.celery import TaskApp, create_celery_app
from backend.main import create_app
from tests.support.api import api_settings, client_for

pytestmark = pytest.mark.broker


def parse(text: str) -> dict[tuple[str, str], float]:
    """{(sample name, queue label): value}."""
    return {
        (sample.name, sample.labels.get('queue', '')): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def rows(pg: psycopg.Connection) -> Iterator[str]:
    """A tag for the schedule and dead-letter rows a test adds; they are deleted afterwards."""
    tag = f'metrics-{uuid.uuid4().hex[:8]}'
    yield tag
    pg.execute('DELETE FROM task_schedule WHERE name LIKE %s', (f'{tag}%',))
    pg.execute('DELETE FROM task_dead_letter WHERE task_id LIKE %s', (f'{tag}%',))


def add_schedule(pg: psycopg.Connection, name: str, *, enabled: bool) -> int:
    row = pg.execute(
        'INSERT INTO task_schedule (name, task, kind, interval_every, interval_period, timezone, enabled) '
        "VALUES (%s, 'task.ping', 'interval', 60, 'seconds', 'UTC', %s) RETURNING id",
        (name, enabled),
    ).fetchone()
    assert row is not None
    return int(row[0])


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    response = await client.get('/metrics')
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/plain')
    return parse(response.text)


async def test_metrics_needs_a_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get('/metrics')
    assert response.status_code == 401


async def test_metrics_report_queues_dead_letters_schedules_and_beat_lag(
    monitored_app: TaskApp, private_queue: str, pg: psycopg.Connection, rows: str
) -> None:
    async with client_for(create_app(api_settings(), celery=monitored_app)) as client:
        before = await scrape(client)
        # Given 2 messages waiting, 2 dead letters, 2 enabled schedules and 1 disabled,
        for _ in range(2):
            monitored_app.send_task('task.ping', queue=private_queue)
        for number in range(2):
            pg.execute(
                "INSERT INTO task_dead_letter (task_id, task_name, reason) VALUES (%s, 'task.ping', 'non_retryable')",
                (f'{rows}-{number}',),
            )
        schedule = add_schedule(pg, f'{rows}-a', enabled=True)
        add_schedule(pg, f'{rows}-b', enabled=True)
        add_schedule(pg, f'{rows}-c', enabled=False)
        # and beat's latest run published 2.5 s after its slot, an earlier one 7 s after
        pg.execute(
            'INSERT INTO task_schedule_run (schedule_id, scheduled_for, task_id, dispatched_at) VALUES '
            "(%(id)s, now() - interval '60 s', 'a', now() - interval '53 s'), "
            "(%(id)s, now() - interval '2.5 s', 'b', now())",
            {'id': schedule},
        )
        # When Prometheus scrapes the API
        after = await scrape(client)
    # Then it sees each number
    assert after['fba_broker_up', ''] == 1
    assert after['fba_queue_messages', private_queue] == 2
    assert after['fba_dead_letters', ''] - before['fba_dead_letters', ''] == 2
    assert after['fba_schedules_enabled', ''] - before['fba_schedules_enabled', ''] == 2
    assert after['fba_beat_dispatch_lag_seconds', ''] == pytest.approx(2.5, abs=0.01)
    assert after['fba_beat_dispatch_lag_max_seconds', ''] >= 7


async def test_metrics_report_the_broker_down_and_still_answer() -> None:
    dead = create_celery_app(api_settings(CELERY_RABBITMQ_PORT=1, REDIS_PORT=1))
    async with client_for(create_app(api_settings(), celery=dead)) as client:
        seen = await scrape(client)
    assert seen['fba_broker_up', ''] == 0
    assert not [key for key in seen if key[0] == 'fba_queue_messages']
