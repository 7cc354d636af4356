"""Fixtures shared by the integration tests."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.database.db import async_engine, dispose_async_engine


@pytest.fixture
async def db() -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back at the end: services never commit, the test owns the transaction."""
    session = AsyncSession(async_engine(), expire_on_commit=False)
    try:
        yield session
    finally:
        await session.rollback()
        await session.close()
        await dispose_async_engine()
