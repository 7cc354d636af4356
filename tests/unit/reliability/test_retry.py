"""Retry defaults: Celery's own options, valued from the TASK_RETRY_* settings unless a task sets its own (no I/O)."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from celery import Celery, Task

from backend.app.task.reliability.retry import exception_class, retries_exception
from backend.app.task.tasks.base import TaskBase
from backend.core.conf import get_settings


@pytest.fixture
def app() -> Iterator[Celery]:
    """An app of the test's own; its tasks are not shared, so the session's app never sees them."""
    app = Celery('retry-test', task_cls=TaskBase, set_as_current=False)
    yield app
    app.close()


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_task_that_sets_nothing_gets_the_settings_as_celery_options(app: Celery) -> None:
    @app.task(shared=False)
    def plain() -> None: ...

    assert (plain.max_retries, plain.retry_backoff, plain.retry_backoff_max) == (4, 60, 3600)
    assert plain.retry_jitter is True and plain.default_retry_delay == 60
    assert ConnectionError in plain.autoretry_for and psycopg.OperationalError in plain.autoretry_for
    # Celery's autoretry wrapper is in place, so the retrying is Celery's own
    assert hasattr(plain, '_orig_run')


def test_settings_are_read_when_the_task_reads_them(app: Celery, fresh_settings: pytest.MonkeyPatch) -> None:
    fresh_settings.setenv('TASK_RETRY_MAX', '7')
    fresh_settings.setenv('TASK_RETRY_ON', 'KeyError')

    @app.task(shared=False)
    def plain() -> None: ...

    assert plain.max_retries == 7 and plain.autoretry_for == (KeyError,)


def test_a_task_option_replaces_only_its_own_setting(app: Celery) -> None:
    @app.task(shared=False, bind=True, max_retries=1, autoretry_for=(KeyError,), retry_backoff=2, retry_jitter=False)
    def own(self: Any) -> None: ...

    assert (own.max_retries, own.autoretry_for, own.retry_backoff, own.retry_jitter) == (1, (KeyError,), 2, False)
    assert own.retry_backoff_max == 3600  # not set: the setting's


def test_a_task_without_autoretry_is_not_wrapped(app: Celery) -> None:
    @app.task(shared=False, autoretry_for=())
    def never() -> None: ...

    assert not hasattr(never, '_orig_run')


def test_retries_exception_follows_autoretry_for_less_dont_autoretry_for(app: Celery) -> None:
    @app.task(shared=False, autoretry_for=(OSError,), dont_autoretry_for=(FileNotFoundError,))
    def picky() -> None: ...

    assert retries_exception(picky, ConnectionError()) and not retries_exception(picky, KeyError())
    assert not retries_exception(picky, FileNotFoundError())


def test_exception_class_resolves_builtins_and_dotted_names() -> None:
    assert exception_class('TimeoutError') is TimeoutError
    assert exception_class('psycopg.OperationalError') is psycopg.OperationalError
    with pytest.raises(ValueError, match='is not an exception class'):
        exception_class('os.path')


def test_taskbase_keeps_celerys_call_so_the_fast_trace_path_stays_on() -> None:
    assert TaskBase.__call__ is Task.__call__
