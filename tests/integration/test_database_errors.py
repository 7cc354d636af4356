"""A database error names its statement but never its bound values: in the API's log and in a task's traceback."""

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.database.db import async_session, dispose_async_engine, sync_session
from backend.main import create_app
from tests.support.api import api_settings

SECRET = 'db-secret-value-6f1e2d'
#: Fails on the server after binding the value, with a message that does not quote it.
FAILING = text('SELECT CAST(:secret AS text), 1 / 0')
#: Fails in asyncpg itself, whose message quotes the value it could not encode.
BAD_BIND = text('SELECT CAST(:secret AS integer)')


def test_the_sync_engine_leaves_bound_values_out_of_its_errors() -> None:
    with pytest.raises(DBAPIError) as raised, sync_session() as session:
        session.execute(FAILING, {'secret': SECRET})
    assert 'division by zero' in str(raised.value) and SECRET not in str(raised.value)


async def test_the_async_engine_leaves_bound_values_out_of_its_errors() -> None:
    try:
        with pytest.raises(DBAPIError) as raised:
            async with async_session() as session:
                await session.execute(FAILING, {'secret': SECRET})
        assert 'division by zero' in str(raised.value) and SECRET not in str(raised.value)
    finally:
        await dispose_async_engine()


async def test_the_api_logs_a_database_error_without_the_drivers_message(caplog: pytest.LogCaptureFixture) -> None:
    # Given a route whose query fails in asyncpg with a message quoting the bound value
    app = create_app(api_settings())

    async def bad_bind() -> None:
        async with async_session() as session:
            await session.execute(BAD_BIND, {'secret': SECRET})

    app.add_api_route('/test-bad-bind', bad_bind)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    # When it is called
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url='http://api') as client:
            response = await client.get('/test-bad-bind')
    await dispose_async_engine()
    # Then the answer is a plain 500 and the log names the statement and the error classes, not the value
    assert response.status_code == 500 and SECRET not in response.text
    logged = '\n'.join(record.getMessage() for record in caplog.records)
    assert 'GET /test-bad-bind raised DBAPIError' in logged and 'on: SELECT CAST($1 AS integer)' in logged, logged
    assert SECRET not in logged and SECRET not in caplog.text
