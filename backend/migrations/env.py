"""Alembic environment: the database URL comes from the settings, never from alembic.ini.

Autogenerate compares the database with the core models and every feature's `tasks/<feature>/model.py`.
"""

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

from backend.core.conf import DATABASE_CONNECT_TIMEOUT, get_settings
from backend.database import features, migrate

target_metadata = features.import_models()


def run_migrations_offline() -> None:
    context.configure(url=get_settings().database_url('psycopg'), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(
        get_settings().database_url('psycopg'),
        poolclass=pool.NullPool,
        connect_args={'connect_timeout': DATABASE_CONNECT_TIMEOUT},
    )
    try:
        connection = engine.connect()
    except OperationalError as error:
        raise migrate.unavailable(error.orig or error) from None
    with connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
