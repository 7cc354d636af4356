"""Fixtures of the acceptance tests: the HTTP API in-process (with and without a valid token), a monitored queue.

Nothing here may read the settings at import: pytest loads this file before the
root conftest points the environment at this run's database and broker.
"""

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from kombu import Queue

from backend.database.db import dispose_async_engine
from backend.main import create_app
from tests.support.api import api_settings, client_for


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API with the run's settings, sending a valid bearer token."""
    async with client_for(create_app(api_settings())) as client:
        yield client
    await dispose_async_engine()


@pytest.fixture
async def anonymous() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(api_settings()), token=None) as client:
        yield client
    await dispose_async_engine()


@pytest.fixture
def monitored_app(private_queue: str) -> Iterator[Any]:
    """A Celery app that knows `private_queue` (as a deployment's task_queues setting would)."""
    # Imported here: importing the module builds the process's app, which must see this run's settings.
    from backend.app.task.celery import create_celery_app

    app = create_celery_app(api_settings())
    app.conf.task_queues = (Queue('default'), Queue(private_queue))
    yield app
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(private_queue)


@pytest.fixture
def empty_vhost() -> Iterator[str]:
    """A RabbitMQ vhost no worker consumes from."""
    name = f'fba_test_health_{uuid.uuid4().hex[:8]}'
    subprocess.run(['rabbitmqctl', '-q', 'add_vhost', name], check=True, capture_output=True, timeout=60)
    subprocess.run(
        ['rabbitmqctl', '-q', 'set_permissions', '-p', name, 'guest', '.*', '.*', '.*'],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield name
    subprocess.run(['rabbitmqctl', '-q', 'delete_vhost', name], check=True, capture_output=True, timeout=60)
