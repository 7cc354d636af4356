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

MODEL = """
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
    root = Path(backend.__file__).parent
    shutil.copytree(root, tmp_path / 'backend', ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(root.parent / 'pyproject.toml', tmp_path)
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


def test_deleting_a_migrated_feature_folder_says_how_to_remove_it_first(fresh_database: str, tree: Path) -> None:
    assert fba(tree, 'db', 'upgrade').returncode == 0
    shutil.rmtree(tree / 'backend/app/task/tasks/email')

    done = fba(tree, 'db', 'upgrade')

    assert done.returncode == 1
    assert "Can't locate revision identified by 'email_0001'" in done.stderr
    assert 'Was a feature folder deleted? Put it back, run `fba db downgrade NAME@base`, then delete it.' in done.stderr
    assert 'Traceback' not in done.stderr


def test_a_feature_model_that_fails_to_import_is_named_in_one_sentence(fresh_database: str, tree: Path) -> None:
    broken = add_feature(tree, 'broken', 'broken_demo')
    (broken / 'model.py').write_text('import not_a_module\n')

    done = fba(tree, 'db', 'upgrade')

    assert done.returncode == 1
    assert done.stderr.startswith(
        'Error: Feature model backend.app.task.tasks.broken.model failed to import: ModuleNotFoundError: '
    )
    assert 'Traceback' not in done.stderr


def add_feature(tree: Path, name: str, table: str) -> Path:
    """A feature folder with a model, as a user writes one."""
    folder = tree / 'backend/app/task/tasks' / name
    folder.mkdir()
    (folder / '__init__.py').write_text('')
    (folder / 'model.py').write_text(MODEL.replace('Invoice', name.title()).replace('invoice_demo', table))
    return folder


def test_revision_writes_a_new_features_table_into_its_folder_then_refuses_an_empty_one(
    fresh_database: str, tree: Path
) -> None:
    invoices = add_feature(tree, 'invoices', 'invoice_demo')
    assert fba(tree, 'db', 'upgrade').returncode == 0

    written = fba(tree, 'db', 'revision', '-m', 'invoice table')

    assert written.returncode == 0, written.stderr
    [migration] = (invoices / 'migrations').glob('*.py')
    assert written.stdout.splitlines()[-1] == (
        f'Wrote backend/app/task/tasks/invoices/migrations/{migration.name}; review it, then run `fba db upgrade`.'
    )
    source = migration.read_text()
    assert "'invoice_demo'" in source
    assert "branch_labels: str | Sequence[str] | None = ('invoices',)" in source
    assert 'task_email_outbox' not in source
    ruff = Path(sys.executable).parent / 'ruff'
    assert subprocess.run([ruff, 'format', '--check', migration], cwd=tree, capture_output=True).returncode == 0
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


def test_changes_of_several_features_are_refused_together_and_written_one_feature_at_a_time(
    fresh_database: str, tree: Path
) -> None:
    invoices = add_feature(tree, 'invoices', 'invoice_demo')
    orders = add_feature(tree, 'orders', 'order_demo')
    assert fba(tree, 'db', 'upgrade').returncode == 0

    both = fba(tree, 'db', 'revision', '-m', 'both')
    one = fba(tree, 'db', 'revision', '-m', 'invoice table', '--feature', 'invoices')
    assert fba(tree, 'db', 'upgrade').returncode == 0
    rest = fba(tree, 'db', 'revision', '-m', 'order table')

    assert both.returncode == 1
    assert 'span several owners (invoices: invoice_demo; orders: order_demo)' in both.stderr
    assert one.returncode == 0, one.stderr
    [invoice_migration] = (invoices / 'migrations').glob('*.py')
    assert "'invoice_demo'" in invoice_migration.read_text()
    assert "'order_demo'" not in invoice_migration.read_text()
    assert rest.returncode == 0, rest.stderr
    [order_migration] = (orders / 'migrations').glob('*.py')
    assert "'order_demo'" in order_migration.read_text()


def test_revision_on_a_database_behind_the_migrations_says_to_upgrade_first(fresh_database: str) -> None:
    migrate.upgrade('0001')
    with pytest.raises(migrate.MigrationError, match=r'not up to date\. Run `fba db upgrade` first\.$'):
        migrate.revision('x')
