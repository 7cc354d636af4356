"""Alembic environment: the database URL comes from the settings, never from alembic.ini."""

from alembic import context
from sqlalchemy import create_engine, pool

from backend.app.task.constants import DATABASE_CONNECT_TIMEOUT
from backend.app.task.model import Base
from backend.core.conf import get_settings

target_metadata = Base.metadata


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
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
