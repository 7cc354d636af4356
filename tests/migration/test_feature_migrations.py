"""Features own their tables: a copy of the project tree, changed as a user would, migrated by `fba db` in it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import backend
from backend.core.conf import get_settings
from backend.database import features, migrate

INVOICE_MODEL = """
from sqlalchemy import BigInteger, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from backend.app.task.model.base import Base


class Invoice(Base):
    __tablename__ = 'invoice_demo'

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    total: Mapped[float] = mapped_column(Numeric(12, 2))
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the `backend` package: what `fba` imports when run from the copy's root."""
    shutil.copytree(Path(backend.__file__).parent, tmp_path / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    return tmp_path


def fba(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, 'PYTHONPATH': str(tree)}
    return subprocess.run(
        [sys.executable, '-m', 'backend.cli', *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def tables_and_versions() -> tuple[set[str], set[str]]:
    with psycopg.connect(get_settings().database_dsn) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        versions = {row[0] for row in conn.execute('SELECT version_num FROM alembic_version')}
    return tables, versions


def test_a_deleted_feature_leaves_no_trace_in_a_fresh_database(fresh_database: str, tree: Path) -> None:
    shutil.rmtree(tree / 'backend/app/task/tasks/email')

    done = fba(tree, 'db', 'upgrade')

    assert done.returncode == 0, done.stderr
    tables, versions = tables_and_versions()
    assert 'task_email_outbox' not in tables
    assert {'task_result', 'task_opera_log', 'task_login_log'} <= tables
    assert 'db_log_0001' in versions
    assert not any(version.startswith('email') for version in versions)


def test_revision_writes_a_new_features_table_into_its_folder_then_refuses_an_empty_one(
    fresh_database: str, tree: Path
) -> None:
    invoices = tree / 'backend/app/task/tasks/invoices'
    invoices.mkdir()
    (invoices / '__init__.py').write_text('')
    (invoices / 'model.py').write_text(INVOICE_MODEL)
    assert fba(tree, 'db', 'upgrade').returncode == 0

    written = fba(tree, 'db', 'revision', '-m', 'invoice table')

    assert written.returncode == 0, written.stderr
    [migration] = (invoices / 'migrations').glob('*.py')
    assert f'Wrote backend/app/task/tasks/invoices/migrations/{migration.name}' in written.stdout
    source = migration.read_text()
    assert "'invoice_demo'" in source
    assert "branch_labels: str | Sequence[str] | None = ('invoices',)" in source
    assert 'task_email_outbox' not in source
    assert fba(tree, 'db', 'upgrade').returncode == 0
    assert 'invoice_demo' in tables_and_versions()[0]

    again = fba(tree, 'db', 'revision', '-m', 'nothing new')

    assert again.returncode == 1
    assert 'No model changes found, so no migration was written; is your model in' in again.stderr
    assert 'Traceback' not in again.stderr
    assert list((invoices / 'migrations').glob('*.py')) == [migration]


def test_revision_for_a_feature_folder_that_does_not_exist_names_those_that_do() -> None:
    refused = r'^No feature folder backend/app/task/tasks/nope/ \(features: '
    with pytest.raises(features.FeatureModelError, match=refused):
        migrate.revision('x', feature='nope')
