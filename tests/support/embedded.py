"""`FBA_TEST_SERVICES=embedded`: the test run brings its own PostgreSQL and Redis (no RabbitMQ).

Both servers run from the `embedded` extra in a temporary folder that the run
deletes at the end; the run's database and Redis number are then claimed on
them exactly as on the machine's services.
"""

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from backend.embedded.stack import embedded_servers

RABBITMQ_SKIP_REASON = 'needs RabbitMQ; FBA_TEST_SERVICES=embedded provides none (the broker is embedded Redis)'


def wanted() -> bool:
    return os.environ.get('FBA_TEST_SERVICES', '') == 'embedded'


@contextmanager
def open_tmp_dir() -> Iterator[Path]:
    """A temporary folder others may traverse: under root the embedded servers run as `nobody`.

    Not pytest's tmp_path: its base folder is private (0700), and every pytest session resets it so.
    """
    root = Path(tempfile.mkdtemp(prefix='fba-embedded-'))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def listening_port() -> Iterator[int]:
    """A loopback port something (this socket) listens on, for tests of services that do or do not answer."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        yield sock.getsockname()[1]


class EmbeddedRun:
    """The embedded servers of one test run."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        root = self._stack.enter_context(open_tmp_dir())
        environ = self._stack.enter_context(embedded_servers(root / '.fba'))
        self.pg_port = int(environ['DATABASE_PORT'])
        self.redis_port = int(environ['REDIS_PORT'])
        self.pg_password = environ['DATABASE_PASSWORD']
        self.redis_password = environ['REDIS_PASSWORD']

    def stop(self) -> None:
        self._stack.close()
