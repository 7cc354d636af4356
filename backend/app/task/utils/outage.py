"""Does an error say PostgreSQL or the broker is down? One answer for the API (503) and the CLI (one sentence).

Drivers report a down service in many shapes: SQLAlchemy wraps psycopg's and
asyncpg's errors, asyncpg lets a refused connection through as a bare OSError,
Celery wraps the result backend's in `BackendGetMetaError`, kombu wraps the
broker's in its `OperationalError`. `find_outage` looks through an error and
the errors it was raised from, and tells which service failed and why.
"""

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import amqp.exceptions
import asyncpg.exceptions
import kombu.exceptions
import psycopg
import redis.exceptions
import sqlalchemy.exc

from backend.app.task.errors import TaskError

Service = Literal['database', 'broker']


class ServicesUnavailable(TaskError):
    """PostgreSQL or the broker does not answer, so nothing was started."""


#: Errors that on their own say the database is unreachable (or refuses this login or database name).
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.CannotConnectNowError,
)
#: A database that answers but has not been migrated.
DATABASE_NOT_MIGRATED: tuple[type[BaseException], ...] = (
    psycopg.errors.UndefinedTable,
    asyncpg.exceptions.UndefinedTableError,
)
#: Errors that on their own say the broker is unreachable (or refuses this login).
BROKER_DOWN: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.AccessRefused,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
#: Socket errors, which say which service failed only through the code they were raised in.
SOCKET_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, socket.gaierror)
DATABASE_MODULES = ('asyncpg', 'psycopg', 'sqlalchemy')
BROKER_MODULES = ('kombu', 'amqp', 'redis')

#: Every class an infrastructure error can surface as (for registering handlers); `find_outage` decides.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.SQLAlchemyError,
    psycopg.Error,
    asyncpg.exceptions.PostgresError,
    asyncpg.exceptions.InterfaceError,
    kombu.exceptions.KombuError,
    amqp.exceptions.AMQPError,
    redis.exceptions.RedisError,
    OSError,
)


@dataclass(frozen=True)
class Outage:
    service: Service
    #: The driver's own first line, e.g. 'Connection refused'; it may name a host and port, never a password.
    reason: str
    #: The database answers but has no tables yet: `fba db upgrade` is the fix, not waiting.
    not_migrated: bool = False


def find_outage(error: BaseException) -> Outage | None:
    """The service `error` (or one it was raised from) says is down, or None for any other error."""
    chain = list(_chain(error))
    # The innermost error of a known kind says it best ('Connection refused'); past it lie the drivers' internals.
    known = [exc for exc in chain if isinstance(exc, DATABASE_DOWN + BROKER_DOWN + SOCKET_ERRORS)]
    reason = _reason(known[-1] if known else error)
    for exc in chain:
        if isinstance(exc, DATABASE_NOT_MIGRATED):
            return Outage('database', _reason(exc), not_migrated=True)
    for exc in chain:
        if isinstance(exc, DATABASE_DOWN):
            return Outage('database', reason)
        if isinstance(exc, BROKER_DOWN):
            return Outage('broker', reason)
        if isinstance(exc, SOCKET_ERRORS):
            service = _raised_in(exc.__traceback__)
            if service is not None:
                return Outage(service, reason)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it was raised from (or while handling), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _raised_in(traceback: TracebackType | None) -> Service | None:
    """Which service's client code the traceback passes through, if any."""
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get('__name__', ''))
        root = module.partition('.')[0]
        if root in DATABASE_MODULES:
            return 'database'
        if root in BROKER_MODULES:
            return 'broker'
        traceback = traceback.tb_next
    return None


def _reason(error: BaseException) -> str:
    """The last link of the driver's first line: 'Connection refused', not the connection string before it."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return lines[0].rpartition(' failed: ')[2].removeprefix('FATAL:').strip().rstrip('.')
