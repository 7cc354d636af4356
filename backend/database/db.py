"""SQLAlchemy engines: async (asyncpg) for the API and async tasks, sync (psycopg 3) for workers and beat.

asyncpg connections belong to the event loop that opened them, so there is one
async engine per loop; the sync engine is one per process, since a forked child
must not reuse its parent's sockets.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from backend.core.conf import get_settings

#: An error's text (logged, or stored as a failed task's traceback) names the statement but not its bound values.
PRIVATE = {'hide_parameters': True}

_async_engines: WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = WeakKeyDictionary()
_sync_engine: tuple[int, Engine] | None = None


def async_engine() -> AsyncEngine:
    loop = asyncio.get_running_loop()
    engine = _async_engines.get(loop)
    if engine is None:
        settings = get_settings()
        engine = create_async_engine(
            settings.database_url('asyncpg'),
            pool_size=settings.DATABASE_POOL_SIZE,
            pool_pre_ping=True,
            **PRIVATE,
            connect_args=settings.database_connect_args('asyncpg'),
        )
        _async_engines[loop] = engine
    return engine


async def dispose_async_engine() -> None:
    """Close the running loop's pool; called before that loop stops."""
    engine = _async_engines.pop(asyncio.get_running_loop(), None)
    if engine is not None:
        await engine.dispose()


@asynccontextmanager
async def async_session() -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits on success and rolls back on error."""
    maker = async_sessionmaker(async_engine(), expire_on_commit=False)
    async with maker.begin() as session:
        yield session


def sync_engine() -> Engine:
    global _sync_engine
    if _sync_engine is None or _sync_engine[0] != os.getpid():
        settings = get_settings()
        engine = create_engine(
            settings.database_url('psycopg'),
            pool_size=settings.DATABASE_POOL_SIZE,
            pool_pre_ping=True,
            **PRIVATE,
            connect_args=settings.database_connect_args('psycopg'),
        )
        _sync_engine = (os.getpid(), engine)
    return _sync_engine[1]


@contextmanager
def sync_session() -> Iterator[Session]:
    """A session in a transaction that commits on success and rolls back on error."""
    with sessionmaker(sync_engine(), expire_on_commit=False).begin() as session:
        yield session
