"""`find_outage`: each driver's way of saying "PostgreSQL (or the broker) is down" is recognised, and nothing else is.

The errors come from the real drivers connecting to a closed port, in the
shapes the API and the CLI meet them (bare, wrapped by SQLAlchemy, by Celery,
by kombu).
"""

import asyncio
from collections.abc import Callable

import asyncpg
import psycopg
import pytest
from celery.exceptions import BackendGetMetaError
from kombu import Connection
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from backend.app.task.utils.outage import find_outage

CLOSED = 1


def raised_by(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError('expected an error')


def asyncpg_connect() -> None:
    asyncio.run(asyncpg.connect(host='127.0.0.1', port=CLOSED, user='postgres', timeout=5))


def sqlalchemy_asyncpg() -> None:
    async def query() -> None:
        engine = create_async_engine(f'postgresql+asyncpg://postgres@127.0.0.1:{CLOSED}/fba')
        try:
            async with engine.connect() as conn:
                await conn.execute(text('SELECT 1'))
        finally:
            await engine.dispose()

    asyncio.run(query())


def sqlalchemy_psycopg() -> None:
    with create_engine(f'postgresql+psycopg://postgres@127.0.0.1:{CLOSED}/fba').connect() as conn:
        conn.execute(text('SELECT 1'))


def celery_result_read() -> None:
    try:
        psycopg.connect(f'postgresql://postgres@127.0.0.1:{CLOSED}/fba', connect_timeout=5)
    except psycopg.OperationalError as error:
        raise BackendGetMetaError('failed to get meta') from error


def kombu_connect(url: str) -> Callable[[], None]:
    def connect() -> None:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    return connect


@pytest.mark.parametrize(
    ('call', 'service'),
    [
        (asyncpg_connect, 'database'),
        (sqlalchemy_asyncpg, 'database'),
        (sqlalchemy_psycopg, 'database'),
        (celery_result_read, 'database'),
        (kombu_connect(f'amqp://guest:guest@127.0.0.1:{CLOSED}//'), 'broker'),
        (kombu_connect(f'redis://127.0.0.1:{CLOSED}/0'), 'broker'),
    ],
    ids=['asyncpg', 'sqlalchemy+asyncpg', 'sqlalchemy+psycopg', 'celery result read', 'kombu amqp', 'kombu redis'],
)
def test_each_drivers_refused_connection_names_its_service(call: Callable[[], None], service: str) -> None:
    outage = find_outage(raised_by(call))
    assert outage is not None
    assert (outage.service, outage.reason, outage.not_migrated) == (service, 'Connection refused', False)


def test_errors_that_are_not_outages_are_not_recognised() -> None:
    # A refused connection raised by other code (no driver on the way) says nothing about our services.
    assert find_outage(ConnectionRefusedError(111, 'Connection refused')) is None
    assert find_outage(ValueError('bad')) is None
    assert find_outage(FileNotFoundError(2, 'No such file or directory')) is None
