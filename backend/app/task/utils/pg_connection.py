"""One raw psycopg connection per process and thread, for the per-task hot paths.

The result backend (and anything else that writes once per task) must not pay
for an ORM session or a pool checkout per call; a forked child or a new thread
opens its own connection, because libpq connections cannot be shared across
either.
"""

import os
import threading

import psycopg

from backend.core.conf import DATABASE_CONNECT_TIMEOUT, get_settings


class ThreadConnection(threading.local):
    """Autocommit connection with every statement prepared server-side (none behind PgBouncer)."""

    conn: psycopg.Connection | None = None
    pid: int = 0

    def get(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.pid != os.getpid():
            settings = get_settings()
            self.conn = psycopg.connect(
                settings.database_dsn,
                autocommit=True,
                prepare_threshold=settings.raw_prepare_threshold,
                connect_timeout=DATABASE_CONNECT_TIMEOUT,
            )
            self.pid = os.getpid()
        return self.conn

    def reset(self) -> None:
        """Forget a broken connection so the next `get` reconnects."""
        if self.conn is not None and self.pid == os.getpid():
            self.conn.close()
        self.conn = None
