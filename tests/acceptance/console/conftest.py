"""Fixtures of the console's request-level tests: the real app and services, a browser-like client signed in."""

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from backend.database.db import dispose_async_engine
from backend.main import create_app
from tests.support.api import api_settings, client_for
from tests.support.console import sign_in


@pytest.fixture
async def visitor() -> AsyncIterator[httpx.AsyncClient]:
    """A client with no session (and no bearer token: the console never reads one)."""
    async with client_for(create_app(api_settings()), token=None) as client:
        yield client
    await dispose_async_engine()


@pytest.fixture
async def console(visitor: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client after signing in: it holds the session cookie."""
    response = await sign_in(visitor)
    assert response.status_code == 303, response.text
    return visitor


@pytest.fixture
def schedule_id(pg: psycopg.Connection, private_queue: str) -> int:
    """An enabled crontab schedule of task.ping (priority 7, catch-up), sent to a queue no worker reads."""
    pg.execute('DELETE FROM task_schedule')
    row = pg.execute(
        'INSERT INTO task_schedule (name, task, kind, crontab, timezone, queue, priority, misfire_policy, '
        'next_run_at, version, planned_version) '
        "VALUES ('nightly-ping', 'task.ping', 'crontab', '0 3 * * *', 'Europe/Berlin', %s, 7, 'catch_up', "
        "now() + interval '1 day', 1, 1) RETURNING id",
        (private_queue,),
    ).fetchone()
    assert row is not None
    return int(row[0])
