"""Embedded PostgreSQL and Redis together, and the settings that point the framework at them."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.embedded.postgres import SUPERUSER, EmbeddedPostgres
from backend.embedded.process import HOST
from backend.embedded.redis import EmbeddedRedis

DATA_ROOT = Path('.fba')
DATABASE_NAME = 'fba'


@contextmanager
def embedded_servers(root: Path = DATA_ROOT) -> Iterator[dict[str, str]]:
    """Start both servers with their data under `root` (kept between runs); yield the environment for them.

    Both are stopped when the block ends, whatever ends it.
    """
    root.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / 'pgdata')
    redis = EmbeddedRedis(root / 'redis')
    try:
        pg_port = postgres.start()
        postgres.create_database(DATABASE_NAME)
        redis_port = redis.start()
        yield environ(pg_port=pg_port, redis_port=redis_port)
    finally:
        redis.stop()
        postgres.stop()


def environ(*, pg_port: int, redis_port: int, database: str = DATABASE_NAME) -> dict[str, str]:
    """Settings (as environment variables, so child processes get them too) for the embedded servers."""
    return {
        'DATABASE_HOST': HOST,
        'DATABASE_PORT': str(pg_port),
        'DATABASE_USER': SUPERUSER,
        'DATABASE_PASSWORD': '',
        'DATABASE_NAME': database,
        'CELERY_BROKER': 'redis',
        'CELERY_BROKER_URL': '',
        'REDIS_HOST': HOST,
        'REDIS_PORT': str(redis_port),
        'REDIS_PASSWORD': '',
        'CELERY_BROKER_REDIS_DATABASE': '0',
    }
