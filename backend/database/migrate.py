"""Alembic, configured in code so `fba db` works from any working directory and sees every feature's migrations.

The core migrations live in `backend/migrations/versions`; each feature folder with a `migrations/` folder adds an
Alembic branch of its own. The version locations are computed at every run from the folders that exist, so the
branches are independent: `heads` (the default target) applies them all.
"""

import os
import shutil
import sys
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import ops
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from psycopg import sql

from backend.app.task.errors import TaskError
from backend.app.task.utils.outage import ServicesUnavailable, find_outage
from backend.core.conf import DATABASE_CONNECT_TIMEOUT, get_settings
from backend.database import features

CORE = 'core'
HINTS = {
    "Can't locate revision": (
        'Was a feature folder deleted? Put it back, run `fba db downgrade NAME@base`, then delete it.'
    ),
    'Target database is not up to date': 'Run `fba db upgrade` first.',
}


class MigrationError(TaskError):
    """Alembic refused the migration command."""


def core_versions() -> Path:
    return Path(str(files('backend').joinpath('migrations'))) / 'versions'


def alembic_config(quiet: bool = False) -> Config:
    """`quiet`: without Alembic's own progress lines (`fba db revision` says what it wrote)."""
    config = Config(cmd_opts=Namespace(quiet=quiet))
    config.set_main_option('script_location', str(core_versions().parent))
    config.set_main_option('path_separator', 'os')
    locations = [core_versions(), *features.version_locations()]
    config.set_main_option('version_locations', os.pathsep.join(str(location) for location in locations))
    return config


def create_database_if_missing() -> bool:
    """A fresh server has no `DATABASE_NAME` database yet: create it instead of failing the first start."""
    settings = get_settings()
    maintenance = settings.model_copy(update={'DATABASE_NAME': 'postgres'}).database_dsn
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=DATABASE_CONNECT_TIMEOUT) as conn:
            exists = conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', [settings.DATABASE_NAME]).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(settings.DATABASE_NAME)))
            return True
    except psycopg.OperationalError as error:
        raise unavailable(error) from None


def unavailable(error: BaseException) -> ServicesUnavailable:
    """One sentence naming the server that refused, and why it refused."""
    settings = get_settings()
    where = f'{settings.DATABASE_HOST}:{settings.DATABASE_PORT}'
    outage = find_outage(error)
    reason = outage.reason if outage else type(error).__name__
    return ServicesUnavailable(f'PostgreSQL at {where} did not accept the connection: {reason}.')


def upgrade(revision: str = 'heads') -> None:
    create_database_if_missing()
    with _alembic_errors():
        command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    with _alembic_errors():
        command.downgrade(alembic_config(), revision)


def revision(message: str, feature: str | None = None) -> Path:
    """Autogenerate one migration into the location of the tables it changes; refuse to write an empty one.

    With `feature`, only that feature's table changes are written, into its folder. Without, the changes must all
    belong to one owner (a feature, or the core): a feature's table must never be created by another's migration.
    """
    chosen = features.find(feature) if feature else None
    for candidate in features.features():
        if candidate.has_model:
            candidate.migrations.mkdir(exist_ok=True)
    config = alembic_config(quiet=True)
    _format_with_ruff(config)
    placement = _Placement(ScriptDirectory.from_config(config), chosen)
    with _alembic_errors():
        written = command.revision(config, message=message, autogenerate=True, process_revision_directives=placement)
    if placement.refusal or not isinstance(written, Script):
        raise MigrationError(placement.refusal)
    return Path(written.path)


def _format_with_ruff(config: Config) -> None:
    """Written migrations pass the project's `ruff format --check` when ruff is installed (a dev install)."""
    ruff = shutil.which('ruff', path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')]))
    if ruff:
        config.set_section_option('post_write_hooks', 'hooks', 'ruff')
        config.set_section_option('post_write_hooks', 'ruff.type', 'exec')
        config.set_section_option('post_write_hooks', 'ruff.executable', ruff)
        config.set_section_option('post_write_hooks', 'ruff.options', 'format --quiet REVISION_SCRIPT_FILENAME')


@contextmanager
def _alembic_errors() -> Iterator[None]:
    """Alembic's refusals become one sentence, with what to do for the two a newcomer meets."""
    try:
        yield
    except CommandError as error:
        hints = [hint for cause, hint in HINTS.items() if cause in str(error)]
        raise MigrationError(' '.join([f'Alembic: {error}', *hints])) from None


class _Placement:
    """Alembic's revision hook: picks the version location, branch and parent for the autogenerated changes."""

    def __init__(self, scripts: ScriptDirectory, feature: features.Feature | None) -> None:
        self.scripts = scripts
        self.feature = feature
        self.refusal: str | None = None

    def __call__(self, context: MigrationContext, target: object, directives: list[ops.MigrationScript]) -> None:
        script = directives[0]
        owners = features.table_owners()
        if self.feature:
            _keep_only(script, self.feature.name, owners)
        self.refusal = self._refusal(script, owners)
        if self.refusal:
            directives[:] = []
            return
        owner = self.feature.name if self.feature else _owners_of(script, owners).popitem()[0]
        self._place(script, owner)

    def _refusal(self, script: ops.MigrationScript, owners: dict[str, str]) -> str | None:
        by_owner = _owners_of(script, owners)
        if len(by_owner) > 1:
            spread = '; '.join(f'{name}: {", ".join(sorted(tables))}' for name, tables in sorted(by_owner.items()))
            return (
                f"The model changes span several owners ({spread}); write each feature's with --feature NAME, "
                'then the rest without it.'
            )
        if not by_owner:
            model = f'tasks/{self.feature.name}/model.py' if self.feature else 'tasks/<feature>/model.py'
            return f'No model changes found, so no migration was written; is your model in backend/app/task/{model}?'
        return None

    def _place(self, script: ops.MigrationScript, owner: str) -> None:
        """Core changes extend the core chain; a feature's extend its branch, or start it (labelled with its name)."""
        location = core_versions() if owner == CORE else features.find(owner).migrations
        heads = [rev for rev in self.scripts.get_revisions('heads') if rev and Path(rev.path).parent.samefile(location)]
        script.version_path = str(location)
        script.head = heads[-1].revision if heads else 'base'
        script.branch_label = owner if not heads and owner != CORE else None
        if owner != CORE:
            script.rev_id = f'{owner}_{script.rev_id}'


def _owner(op: ops.MigrateOperation, owners: dict[str, str]) -> str:
    return owners.get(getattr(op, 'table_name', None) or '', CORE)


def _owners_of(script: ops.MigrationScript, owners: dict[str, str]) -> dict[str, set[str]]:
    """Owner (a feature's name, or core) → the tables the autogenerated upgrade touches."""
    grouped: dict[str, set[str]] = {}
    for op in script.upgrade_ops.ops if script.upgrade_ops else []:
        grouped.setdefault(_owner(op, owners), set()).add(getattr(op, 'table_name', None) or '?')
    return grouped


def _keep_only(script: ops.MigrationScript, owner: str, owners: dict[str, str]) -> None:
    for container in (script.upgrade_ops, script.downgrade_ops):
        if container is not None:
            container.ops = [op for op in container.ops if _owner(op, owners) == owner]
