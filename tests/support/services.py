"""The real services a test run uses, and the private slice of each that this run owns.

Each run gets its own PostgreSQL database, RabbitMQ vhost and Redis database
number, so two runs on one machine never see each other's rows or messages. A
service that does not answer fails the run with the command that starts it.
"""

import os
import secrets
import socket
import subprocess
from dataclasses import dataclass

import psycopg
import redis

HOST = '127.0.0.1'
START_COMMANDS = {
    'PostgreSQL': (5432, 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'),
    'Redis': (
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
        '--dir /var/lib/redis --logfile /var/log/redis/ci.log',
    ),
    'RabbitMQ': (5672, 'rabbitmq-server -detached'),
}
REDIS_LOCK_KEY = 'fba:test-run:redis-db:{}'


class ServiceMissing(RuntimeError):
    pass


def answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def require_services(names: list[str]) -> None:
    missing = [
        f'{name} is not answering on {HOST}:{START_COMMANDS[name][0]}; start it with: {START_COMMANDS[name][1]}'
        for name in names
        if not answers(START_COMMANDS[name][0])
    ]
    if missing:
        raise ServiceMissing('\n'.join(missing))


def _dsn(port: int, password: str, database: str) -> str:
    return f'postgresql://postgres:{password}@{HOST}:{port}/{database}'


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(['rabbitmqctl', '-q', *args], check=True, capture_output=True, timeout=60)


@dataclass
class TestRun:
    """Names this run owns; `environ()` points the framework at them."""

    run_id: str
    database: str
    vhost: str
    redis_db: int
    # Where PostgreSQL and Redis listen, with which passwords (the embedded ones have some), and whether
    # RabbitMQ is there (not with FBA_TEST_SERVICES=embedded).
    pg_port: int = 5432
    redis_port: int = 6379
    pg_password: str = ''
    redis_password: str = ''
    rabbitmq: bool = True

    @classmethod
    def allocate(
        cls,
        *,
        pg_port: int = 5432,
        redis_port: int = 6379,
        pg_password: str = '',
        redis_password: str = '',
        rabbitmq: bool = True,
    ) -> 'TestRun':
        run_id = f'{os.getpid()}_{secrets.token_hex(3)}'
        run = cls(
            run_id=run_id,
            database=f'fba_test_{run_id}',
            vhost=f'fba_test_{run_id}',
            redis_db=0,
            pg_port=pg_port,
            redis_port=redis_port,
            pg_password=pg_password,
            redis_password=redis_password,
            rabbitmq=rabbitmq,
        )
        with psycopg.connect(run.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{run.database}"')
        if rabbitmq:
            _rabbitmqctl('add_vhost', run.vhost)
            _rabbitmqctl('set_permissions', '-p', run.vhost, 'guest', '.*', '.*', '.*')
        run.redis_db = run._claim_redis_db()
        return run

    @property
    def admin_dsn(self) -> str:
        """The server's maintenance database, for creating and dropping databases."""
        return _dsn(self.pg_port, self.pg_password, 'postgres')

    @property
    def dsn(self) -> str:
        return _dsn(self.pg_port, self.pg_password, self.database)

    def redis_client(self, db: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.redis_port, password=self.redis_password or None, db=db)

    def _claim_redis_db(self) -> int:
        """Databases 1-15 are handed out through NX keys in database 0, released at the end of the run."""
        lock = self.redis_client(0)
        for number in range(1, 16):
            if lock.set(REDIS_LOCK_KEY.format(number), self.run_id, nx=True, ex=4 * 3600):
                self.redis_client(number).flushdb()
                return number
        raise ServiceMissing('every Redis database 1-15 is taken by other test runs')

    def environ(self) -> dict[str, str]:
        return {
            'FBA_ENV_FILE': '',
            'DATABASE_HOST': HOST,
            'DATABASE_PORT': str(self.pg_port),
            'DATABASE_USER': 'postgres',
            'DATABASE_PASSWORD': self.pg_password,
            'DATABASE_NAME': self.database,
            'CELERY_RABBITMQ_HOST': HOST,
            'CELERY_RABBITMQ_VHOST': self.vhost,
            'REDIS_HOST': HOST,
            'REDIS_PORT': str(self.redis_port),
            'REDIS_PASSWORD': self.redis_password,
            'CELERY_BROKER_REDIS_DATABASE': str(self.redis_db),
        }

    def release(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.rabbitmq:
            _rabbitmqctl('delete_vhost', self.vhost)
        self.redis_client(self.redis_db).flushdb()
        lock = self.redis_client(0)
        if lock.get(REDIS_LOCK_KEY.format(self.redis_db)) == self.run_id.encode():
            lock.delete(REDIS_LOCK_KEY.format(self.redis_db))
