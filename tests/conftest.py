"""Test run set-up: real PostgreSQL, RabbitMQ and Redis, each with a slice private to this run.

Before collection the run claims its own database (migrated to head), vhost
and Redis database number and points the framework at them through the
environment; they are dropped when the run ends. `CELERY_BROKER` picks the
broker (the Makefile runs the broker tests once per kind).

Parallel runs (`pytest -n 2`, pytest-xdist): each xdist worker process is a
run of its own with its own database, vhost and Redis database, as two runs of
two people are; the process that hands out the tests claims nothing.

Workers: `worker` is one solo worker shared by the session, consuming the
default queue. A test that needs its own worker (other pool, killed mid-run,
special env) uses `make_worker` with a queue of its own (`private_queue`), so
the shared worker never takes its messages.
"""

import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.support import embedded
from tests.support.beat import QueueProbe
from tests.support.services import ServiceMissing, TestRun, require_services
from tests.support.worker import WorkerProcess, start_worker

_run: TestRun | None = None
_embedded: embedded.EmbeddedRun | None = None


def _hands_out_tests(config: pytest.Config) -> bool:
    """This process is pytest-xdist's controller: its workers run the tests, each claiming its own slice."""
    return not hasattr(config, 'workerinput') and bool(getattr(config.option, 'numprocesses', None))


def pytest_configure(config: pytest.Config) -> None:
    global _run
    if config.option.help or config.option.collectonly or _hands_out_tests(config):
        return
    if embedded.wanted():
        _run = _allocate_embedded_run()
    else:
        try:
            require_services(['PostgreSQL', 'Redis', 'RabbitMQ'])
        except ServiceMissing as missing:
            pytest.exit(f'Required service missing:\n{missing}', returncode=3)
        os.environ.setdefault('CELERY_BROKER', 'rabbitmq')
        _run = TestRun.allocate()
    os.environ.update(_run.environ())
    from backend.database import migrate

    migrate.upgrade()


def _allocate_embedded_run() -> TestRun:
    """FBA_TEST_SERVICES=embedded: this run's own PostgreSQL and Redis, Redis as the broker."""
    global _embedded
    _embedded = embedded.EmbeddedRun()
    os.environ['CELERY_BROKER'] = 'redis'
    return TestRun.allocate(
        pg_port=_embedded.pg_port,
        redis_port=_embedded.redis_port,
        pg_password=_embedded.pg_password,
        redis_password=_embedded.redis_password,
        rabbitmq=False,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get('CELERY_BROKER', 'rabbitmq') == 'rabbitmq':
        return
    reason = embedded.RABBITMQ_SKIP_REASON if embedded.wanted() else 'needs RabbitMQ; this run uses Redis as broker'
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker('rabbitmq_only'):
            item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _run is not None:
        _run.release()
    if _embedded is not None:
        _embedded.stop()


def pytest_report_header(config: pytest.Config) -> str:
    if _run is None:
        return 'fba: each xdist worker claims its own' if _hands_out_tests(config) else 'fba: no services claimed'
    services = ' services=embedded' if _embedded is not None else ''
    return (
        f'fba: broker={os.environ["CELERY_BROKER"]} database={_run.database} vhost={_run.vhost} '
        f'redis_db={_run.redis_db}{services}'
    )


@pytest.fixture(scope='session')
def test_run() -> TestRun:
    assert _run is not None
    return _run


@pytest.fixture(scope='session')
def celery_app() -> Any:
    from backend.app.task.celery import task_app

    return task_app()


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
def private_queue(celery_app: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A queue of this test's own, declared as a deployment's TASK_QUEUES would: in this process's app, and in the
    environment of the commands the test starts (sends and schedules to an undeclared queue are refused)."""
    from kombu import Queue

    name = f'test-{uuid.uuid4().hex[:10]}'
    names = [queue.name for queue in celery_app.conf.task_queues]
    monkeypatch.setitem(celery_app.conf, 'task_queues', [*celery_app.conf.task_queues, Queue(name)])
    monkeypatch.setenv('TASK_QUEUES', json.dumps([{'name': queue} for queue in [*names, name]]))
    return name


@pytest.fixture
def pg(test_run: TestRun) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this run's database, for asserting on rows."""
    with psycopg.connect(test_run.dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def probe(celery_app: Any, private_queue: str, pg: psycopg.Connection) -> Iterator[QueueProbe]:
    """Reads what beat publishes to `private_queue`; the run's schedules are cleared before and after."""
    pg.execute('DELETE FROM task_schedule')
    probe = QueueProbe(celery_app, private_queue)
    yield probe
    probe.close()
    pg.execute('DELETE FROM task_schedule')
