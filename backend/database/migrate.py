"""Alembic, configured in code so `fba db upgrade` works from any working directory."""

from importlib.resources import files

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from backend.app.task.errors import ServicesUnavailable
from backend.app.task.utils.outage import find_outage
from backend.core.conf import DATABASE_CONNECT_TIMEOUT, get_settings


def alembic_config() -> Config:
    config = Config()
    config.set_main_option('script_location', str(files('backend').joinpath('migrations')))
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
        where = f'{settings.DATABASE_HOST}:{settings.DATABASE_PORT}'
        outage = find_outage(error)
        reason = outage.reason if outage else type(error).__name__
        raise ServicesUnavailable(f'PostgreSQL at {where} did not accept the connection: {reason}.') from None


def upgrade(revision: str = 'head') -> None:
    create_database_if_missing()
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)
