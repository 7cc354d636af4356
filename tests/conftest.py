"""Test run set-up: real PostgreSQL, RabbitMQ and Redis, each with a slice private to this run.

Before collection the run claims its own database (migrated to head), vhost
and Redis database number and points the framework at them through the
environment; they are dropped when the run ends. `CELERY_BROKER` picks the
broker (the Makefile runs the broker tests once per kind).

Workers: `worker` is one solo worker shared by the session, consuming the
default queue. A test that needs its own worker (other pool, killed mid-run,
special env) uses `make_worker` with a queue of its own (`private_queue`), so
the shared worker never takes its messages.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.support.services import ServiceMissing, TestRun, require_services
from tests.support.worker import WorkerProcess, start_worker

_run: TestRun | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _run
    if hasattr(config, 'workerinput') or config.option.help or config.option.collectonly:
        return
    try:
        require_services(['PostgreSQL', 'Redis', 'RabbitMQ'])
    except ServiceMissing as missing:
        pytest.exit(f'Required service missing:\n{missing}', returncode=3)
    os.environ.setdefault('CELERY_BROKER', 'rabbitmq')
    _run = TestRun.allocate()
    os.environ.update(_run.environ())
    from backend.database import migrate

    migrate.upgrade()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _run is not None:
        _run.release()


def pytest_report_header(config: pytest.Config) -> str:
    if _run is None:
        return 'fba: no services claimed'
    return (
        f'fba: broker={os.environ["CELERY_BROKER"]} database={_run.database} vhost={_run.vhost} '
        f'redis_db={_run.redis_db}'
    )


@pytest.fixture(scope='session')
def test_run() -> TestRun:
    assert _run is not None
    return _run


@pytest.fixture(scope='session')
def celery_app() -> Any:
    from backend.app.task.celery import celery_app

    return celery_app


@pytest.fixture(scope='session')
def worker(celery_app: Any) -> Iterator[WorkerProcess]:
    process = start_worker(celery_app)
    yield process
    process.stop()


@pytest.fixture
def make_worker(celery_app: Any) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(**kwargs: Any) -> WorkerProcess:
        process = start_worker(celery_app, **kwargs)
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
def private_queue() -> str:
    return f'test-{uuid.uuid4().hex[:10]}'


@pytest.fixture
def pg(test_run: TestRun) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this run's database, for asserting on rows."""
    with psycopg.connect(f'postgresql://postgres@127.0.0.1:5432/{test_run.database}', autocommit=True) as conn:
        yield conn
