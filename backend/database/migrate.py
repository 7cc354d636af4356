"""Alembic, configured in code so `fba db upgrade` works from any working directory."""

from importlib.resources import files

from alembic import command
from alembic.config import Config


def alembic_config() -> Config:
    config = Config()
    config.set_main_option('script_location', str(files('backend').joinpath('migrations')))
    return config


def upgrade(revision: str = 'head') -> None:
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)
