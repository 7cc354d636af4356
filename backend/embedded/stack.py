"""Embedded PostgreSQL and Redis together, and the settings that point the framework at them."""

import pwd
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.embedded.errors import EmbeddedServerFailed
from backend.embedded.files import private_root
from backend.embedded.postgres import SUPERUSER, EmbeddedPostgres
from backend.embedded.process import HOST, reachable_by, server_user
from backend.embedded.redis import EmbeddedRedis

DATA_ROOT = Path('.fba')
DATABASE_NAME = 'fba'


@contextmanager
def embedded_servers(root: Path = DATA_ROOT) -> Iterator[dict[str, str]]:
    """Start both servers with their data under `root` (kept between runs); yield the environment for them.

    Each start makes new passwords, so a password seen once is worthless after a
    restart. Both servers are stopped when the block ends, whatever ends it.
    """
    user = server_user()
    private_root(root, user)
    if user is not None:
        _require_reachable(root.resolve(), user)
    pg_password, redis_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    postgres = EmbeddedPostgres(root / 'pgdata', password=pg_password, user=user)
    redis = EmbeddedRedis(root / 'redis', password=redis_password, user=user)
    try:
        pg_port = postgres.start()
        postgres.create_database(DATABASE_NAME)
        redis_port = redis.start()
        yield environ(pg_port=pg_port, pg_password=pg_password, redis_port=redis_port, redis_password=redis_password)
    finally:
        redis.stop()
        postgres.stop()


def environ(
    *, pg_port: int, pg_password: str, redis_port: int, redis_password: str, database: str = DATABASE_NAME
) -> dict[str, str]:
    """Settings (as environment variables, so child processes get them too) for the embedded servers."""
    return {
        'DATABASE_HOST': HOST,
        'DATABASE_PORT': str(pg_port),
        'DATABASE_USER': SUPERUSER,
        'DATABASE_PASSWORD': pg_password,
        'DATABASE_NAME': database,
        'CELERY_BROKER': 'redis',
        'CELERY_BROKER_URL': '',
        'REDIS_HOST': HOST,
        'REDIS_PORT': str(redis_port),
        'REDIS_PASSWORD': redis_password,
        'CELERY_BROKER_REDIS_DATABASE': '0',
    }


def _require_reachable(root: Path, user: pwd.struct_passwd) -> None:
    """Under root the servers run as `user`, who must be able to enter `root`; we change no folder above it."""
    if reachable_by(root, user):
        return
    blocked = next((folder for folder in reversed(root.parents) if not reachable_by(folder, user)), root)
    raise EmbeddedServerFailed(
        f'Embedded servers run as {user.pw_name!r} under root and cannot reach {root} because {blocked} is closed '
        f'to other users; run `fba up --embedded` as a non-root user or from a folder others may pass through '
        f'(e.g. /srv/yourproject), or open it yourself with `chmod o+x {blocked}`.'
    )
