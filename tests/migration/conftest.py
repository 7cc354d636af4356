"""A database that does not exist yet, named by the settings: what `fba db upgrade` meets on a new server."""

import os
from collections.abc import Iterator

import psycopg
import pytest

from backend.core.conf import get_settings
from tests.support import services


@pytest.fixture
def fresh_database(monkeypatch: pytest.MonkeyPatch, test_run: services.TestRun) -> Iterator[str]:
    name = f'{os.environ["DATABASE_NAME"]}_mig'
    monkeypatch.setenv('DATABASE_NAME', name)
    get_settings.cache_clear()
    yield name
    get_settings.cache_clear()
    with psycopg.connect(test_run.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
