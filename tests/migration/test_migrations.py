"""Migrations: head builds the schema the models describe, and they go down and up again."""

import os
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from backend.app.task.model import Base
from backend.core.conf import get_settings
from backend.database import migrate


@pytest.fixture
def empty_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f'{os.environ["DATABASE_NAME"]}_mig'
    with psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv('DATABASE_NAME', name)
    get_settings.cache_clear()
    yield name
    get_settings.cache_clear()
    with psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _diff() -> list:
    engine = create_engine(get_settings().database_url('psycopg'))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={'compare_type': True}), Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_head_matches_the_models(empty_database: str) -> None:
    migrate.upgrade('head')
    assert _diff() == []


def test_downgrade_to_base_and_upgrade_again(empty_database: str) -> None:
    migrate.upgrade('head')
    migrate.downgrade('base')
    migrate.upgrade('head')
    assert _diff() == []
