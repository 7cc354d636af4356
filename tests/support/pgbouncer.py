"""Debian's PgBouncer in transaction pooling, started by a test on a free port with its own ini and user list."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import Spawned, free_port, spawn
from tests.support.services import answers
from tests.support.wait import wait_for

#: PgBouncer refuses to run as root; this account exists wherever Debian's PostgreSQL is installed.
RUN_AS = 'postgres'


def ensure_installed() -> str:
    """The pgbouncer binary, installed with apt-get when missing and we are root."""
    found = shutil.which('pgbouncer') or ('/usr/sbin/pgbouncer' if Path('/usr/sbin/pgbouncer').exists() else None)
    if found is None and os.geteuid() == 0:
        install = ['apt-get', 'install', '-y', '-qq', 'pgbouncer']
        if subprocess.run(install, capture_output=True, timeout=300).returncode != 0:
            subprocess.run(['apt-get', 'update', '-qq'], capture_output=True, timeout=300)  # no package lists yet
            subprocess.run(install, check=True, capture_output=True, timeout=300)
        found = shutil.which('pgbouncer') or '/usr/sbin/pgbouncer'
    if found is None:
        raise RuntimeError('pgbouncer is not installed; run: apt-get install -y pgbouncer')
    return found


@contextmanager
def pgbouncer(pg_port: int, *, pool_size: int = 2) -> Iterator[int]:
    """Yield the port of a PgBouncer that shares `pool_size` server connections per database among its clients."""
    binary = ensure_installed()
    folder = Path(tempfile.mkdtemp(prefix='fba-pgbouncer-'))
    port = free_port()
    (folder / 'userlist.txt').write_text('"postgres" ""\n')
    (folder / 'pgbouncer.ini').write_text(
        '[databases]\n'
        f'* = host=127.0.0.1 port={pg_port}\n'
        '[pgbouncer]\n'
        f'listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n'
        f'auth_type = trust\nauth_file = {folder}/userlist.txt\n'
        f'pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n'
        'ignore_startup_parameters = extra_float_digits,options\n'
        f'pidfile = {folder}/pgbouncer.pid\n'
    )
    argv = [binary, str(folder / 'pgbouncer.ini')]
    if os.geteuid() == 0:
        shutil.chown(folder, RUN_AS)
        argv = ['runuser', '-u', RUN_AS, '--', *argv]
    process: Spawned = spawn('pgbouncer', argv, env=dict(os.environ))
    try:
        wait_for(lambda: process.assert_alive() or answers(port), timeout=30, what='PgBouncer to listen')
        yield port
    finally:
        process.stop()
        shutil.rmtree(folder, ignore_errors=True)
