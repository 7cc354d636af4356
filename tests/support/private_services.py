"""A private RabbitMQ node and a private PostgreSQL cluster, on free ports in a temp dir, for tests that stop them.

The shared services must keep running for other test runs, so a fault test
stops and restarts only these, and `stop()` removes every trace.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support.wait import wait_for

RABBITMQ_BIN = Path('/usr/lib/rabbitmq/bin')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=1):
        return True
    return False


class PrivateRabbitMQ:
    """`rabbitmq-server -detached` as its own node; `stop_app`/`start_app` take the AMQP listener down and up."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix='fba-rmq-'))
        self.port = free_port()
        self.node = f'fba_{uuid.uuid4().hex[:8]}@localhost'
        (self.dir / 'rabbitmq.conf').write_text(f'listeners.tcp.local = 127.0.0.1:{self.port}\n')
        self.env = {
            **os.environ,
            'HOME': str(self.dir),  # its own Erlang cookie, shared by the node and rabbitmqctl
            'RABBITMQ_NODENAME': self.node,
            'RABBITMQ_DIST_PORT': str(free_port()),
            'RABBITMQ_CONFIG_FILE': str(self.dir / 'rabbitmq.conf'),
            'RABBITMQ_MNESIA_BASE': str(self.dir / 'mnesia'),
            'RABBITMQ_LOG_BASE': str(self.dir / 'log'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': str(self.dir / 'enabled_plugins'),
            'RABBITMQ_PID_FILE': str(self.dir / 'pid'),
        }

    @property
    def url(self) -> str:
        return f'amqp://guest:guest@127.0.0.1:{self.port}//'

    def start(self) -> None:
        subprocess.run([RABBITMQ_BIN / 'rabbitmq-server', '-detached'], env=self.env, check=True, timeout=60)
        self.ctl('wait', str(self.dir / 'pid'), '--timeout', '60')
        wait_for(lambda: answers(self.port), timeout=60, what=f'private RabbitMQ on port {self.port}')

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [RABBITMQ_BIN / 'rabbitmqctl', '-q', '-n', self.node, *args],
            env=self.env,
            check=True,
            timeout=90,
            capture_output=True,
        )

    def stop_app(self) -> None:
        self.ctl('stop_app')

    def start_app(self) -> None:
        self.ctl('start_app')
        wait_for(lambda: answers(self.port), timeout=60, what='private RabbitMQ to listen again')

    def stop(self) -> None:
        try:
            self.ctl('stop')
        except (subprocess.SubprocessError, OSError):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((self.dir / 'pid').read_text().strip()), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """initdb + pg_ctl as user postgres; trust authentication on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob('/usr/lib/postgresql/*/bin'))[-1])
        self.dir = Path(tempfile.mkdtemp(prefix='fba-pg-'))
        self.data = self.dir / 'data'
        self.port = free_port()
        shutil.chown(self.dir, 'postgres', 'postgres')

    @property
    def dsn(self) -> str:
        return f'postgresql://postgres@127.0.0.1:{self.port}/postgres'

    def _as_postgres(self, *argv: str) -> None:
        subprocess.run(['runuser', '-u', 'postgres', '--', *argv], check=True, timeout=120, capture_output=True)

    def _pg_ctl(self, *args: str) -> None:
        options = f'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off'
        self._as_postgres(
            str(self.bin / 'pg_ctl'), '-D', str(self.data), '-l', str(self.dir / 'log'), '-o', options, '-w', *args
        )

    def start(self) -> None:
        self._as_postgres(str(self.bin / 'initdb'), '-D', str(self.data), '-A', 'trust', '-U', 'postgres', '--no-sync')
        self._pg_ctl('start')

    def restart(self) -> None:
        self._pg_ctl('-m', 'fast', 'restart')

    def pause(self) -> None:
        """Stop the server, keeping its data, until `resume`."""
        self._pg_ctl('-m', 'fast', 'stop')

    def resume(self) -> None:
        self._pg_ctl('start')

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._pg_ctl('-m', 'immediate', 'stop')
        shutil.rmtree(self.dir, ignore_errors=True)
