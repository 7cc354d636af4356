"""Migrations: heads (the core and every feature) build the schema the models describe, and go down and up again."""

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from backend.app.task.utils.outage import ServicesUnavailable
from backend.core.conf import get_settings
from backend.database import features, migrate
from tests.support import services


def test_upgrade_creates_a_missing_database(fresh_database: str, test_run: services.TestRun) -> None:
    migrate.upgrade('heads')
    with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
        assert conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', [fresh_database]).fetchone() == (1,)
    assert _diff() == []


def test_upgrade_against_an_unreachable_server_says_so_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATABASE_PORT', '1')
    get_settings.cache_clear()
    try:
        with pytest.raises(ServicesUnavailable, match=r'^PostgreSQL at 127\.0\.0\.1:1 did not accept the connection'):
            migrate.upgrade('heads')
    finally:
        get_settings.cache_clear()


def _diff() -> list:
    engine = create_engine(get_settings().database_url('psycopg'))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={'compare_type': True}), features.import_models())
    engine.dispose()
    return diff


def test_upgrade_head_matches_the_models(fresh_database: str) -> None:
    migrate.upgrade('heads')
    assert _diff() == []


def test_downgrade_to_base_and_upgrade_again(fresh_database: str) -> None:
    migrate.upgrade('heads')
    migrate.downgrade('base')
    migrate.upgrade('heads')
    assert _diff() == []


def test_a_database_whose_feature_tables_came_from_the_old_foundation_upgrades(fresh_database: str) -> None:
    """Before features owned their tables, 0001 created them: the features' first migrations must not fail on them."""
    migrate.upgrade('0001')
    engine = create_engine(get_settings().database_url('psycopg'))
    metadata = features.import_models()
    for table in ('task_email_outbox', 'task_login_log', 'task_opera_log'):
        metadata.tables[table].create(engine)
    engine.dispose()
    migrate.upgrade('heads')
    assert _diff() == []


def test_downgrade_against_an_unreachable_server_says_so_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATABASE_PORT', '1')
    get_settings.cache_clear()
    try:
        with pytest.raises(ServicesUnavailable, match=r'^PostgreSQL at 127\.0\.0\.1:1 did not accept the connection'):
            migrate.downgrade('base')
    finally:
        get_settings.cache_clear()
