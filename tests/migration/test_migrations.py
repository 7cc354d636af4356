"""Migrations: head builds the schema the models describe, and they go down and up again."""

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from backend.app.task.errors import ServicesUnavailable
from backend.app.task.model import Base
from backend.core.conf import get_settings
from backend.database import migrate
from tests.support import services


@pytest.fixture
def fresh_database(monkeypatch: pytest.MonkeyPatch, test_run: services.TestRun) -> Iterator[str]:
    """The settings name a database that does not exist yet (the first `fba db upgrade` on a new server)."""
    name = f'{os.environ["DATABASE_NAME"]}_mig'
    monkeypatch.setenv('DATABASE_NAME', name)
    get_settings.cache_clear()
    yield name
    get_settings.cache_clear()
    with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_creates_a_missing_database(fresh_database: str, test_run: services.TestRun) -> None:
    migrate.upgrade('head')
    with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
        assert conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', [fresh_database]).fetchone() == (1,)
    assert _diff() == []


def test_upgrade_against_an_unreachable_server_says_so_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATABASE_PORT', '1')
    get_settings.cache_clear()
    try:
        with pytest.raises(ServicesUnavailable, match=r'^PostgreSQL at 127\.0\.0\.1:1 did not accept the connection'):
            migrate.upgrade('head')
    finally:
        get_settings.cache_clear()


def _diff() -> list:
    engine = create_engine(get_settings().database_url('psycopg'))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={'compare_type': True}), Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_head_matches_the_models(fresh_database: str) -> None:
    migrate.upgrade('head')
    assert _diff() == []


def test_downgrade_to_base_and_upgrade_again(fresh_database: str) -> None:
    migrate.upgrade('head')
    migrate.downgrade('base')
    migrate.upgrade('head')
    assert _diff() == []
