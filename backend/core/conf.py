"""Every setting of the framework, read once from the environment (and `.env`).

A bad value must stop start-up with one readable line, whatever the entry point
(`fba`, `celery -A …`), so `get_settings` raises `SettingsError` carrying that
line, and each start-up turns it into an exit with it: `fba` in
`cli/errors.run_cli`, `celery -A …` (worker, beat, Flower, inspect) where
`app/task/celery.py` builds the app.
"""

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(ge=1)]
BROKER_KINDS = ('rabbitmq', 'redis')
SECRET_WORDS = ('PASSWORD', 'TOKEN', 'URL', 'AUTH', 'SECRET')
API_TOKEN_MIN_LENGTH = 16
#: Seconds any connection to PostgreSQL may take to open, so a server that accepts but never answers (stopped,
#: firewalled) becomes an error to retry instead of a hang.
DATABASE_CONNECT_TIMEOUT = 5
#: What each `WORKER_PROFILE` changes: the defaults of these settings (one set explicitly keeps its value).
#: `throughput` trades per-task time limits, fairness to long tasks and the STARTED state for speed (README,
#: Performance); `fba worker` then runs one solo process per CELERY_WORKER_CONCURRENCY.
WORKER_PROFILES: dict[str, dict[str, Any]] = {
    'default': {},
    'throughput': {
        'CELERY_WORKER_POOL': 'solo',
        'CELERY_WORKER_PREFETCH_MULTIPLIER': 200,
        'TASK_TRACK_STARTED': False,
        'TASK_RESULT_BATCH': 100,
    },
}


def split_tokens(value: SecretStr) -> tuple[str, ...]:
    return tuple(token.strip() for token in value.get_secret_value().split(',') if token.strip())


class QueueSpec(BaseModel):
    """One queue workers can consume: its name, highest message priority (0: none) and routing key."""

    name: str = Field(pattern=r'^[\w.:-]{1,155}$')
    max_priority: Annotated[int, Field(ge=0, le=9)] = 9
    routing_key: str | None = None


def default_queues() -> list[QueueSpec]:
    return [QueueSpec(name='default'), QueueSpec(name='critical'), QueueSpec(name='bulk')]


class SettingsError(Exception):
    """A setting has a value the framework cannot run with (one line: `Invalid setting NAME=value: why`)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra='ignore', case_sensitive=True)

    # General
    TIMEZONE: str = 'UTC'
    LOG_LEVEL: Literal['DEBUG', 'INFO', 'WARNING', 'ERROR'] = 'INFO'

    # PostgreSQL: schedules, results, dead letters and feature tables
    DATABASE_HOST: str = '127.0.0.1'
    DATABASE_PORT: Port = 5432
    DATABASE_USER: str = 'postgres'
    DATABASE_PASSWORD: SecretStr = SecretStr('')
    DATABASE_NAME: str = 'fba'
    DATABASE_POOL_SIZE: PositiveInt = 10
    # PgBouncer in transaction pooling in front of PostgreSQL: no prepared statements, no session state;
    # beat's LISTEN connection goes to DATABASE_DIRECT_HOST/PORT (PostgreSQL itself), or beat polls.
    DATABASE_PGBOUNCER: bool = False
    DATABASE_DIRECT_HOST: str = ''
    DATABASE_DIRECT_PORT: Annotated[int, Field(ge=0, le=65535)] = 0

    # Broker
    CELERY_BROKER: Literal['rabbitmq', 'redis'] = 'rabbitmq'
    CELERY_BROKER_URL: SecretStr | None = None
    CELERY_RABBITMQ_HOST: str = '127.0.0.1'
    CELERY_RABBITMQ_PORT: Port = 5672
    CELERY_RABBITMQ_USERNAME: str = 'guest'
    CELERY_RABBITMQ_PASSWORD: SecretStr = SecretStr('guest')
    CELERY_RABBITMQ_VHOST: str = '/'
    REDIS_HOST: str = '127.0.0.1'
    REDIS_PORT: Port = 6379
    REDIS_PASSWORD: SecretStr = SecretStr('')
    CELERY_BROKER_REDIS_DATABASE: Annotated[int, Field(ge=0, le=15)] = 1

    # Results
    CELERY_RESULT_EXPIRES: Annotated[int, Field(ge=0)] = 86400

    # Workers (each one overridable per worker from `fba worker`)
    CELERY_WORKER_CONCURRENCY: PositiveInt = 2
    CELERY_WORKER_POOL: Literal['prefork', 'threads', 'solo'] = 'prefork'
    CELERY_WORKER_PREFETCH_MULTIPLIER: PositiveInt = 1
    CELERY_WORKER_MAX_TASKS_PER_CHILD: Annotated[int, Field(ge=0)] = 0
    CELERY_TASK_SOFT_TIME_LIMIT: PositiveInt = 300
    CELERY_TASK_TIME_LIMIT: PositiveInt = 330

    # Reliability: retries (TaskBase), queues and priorities, dead letters
    TASK_RETRY_ON: str = 'ConnectionError,TimeoutError,psycopg.OperationalError,sqlalchemy.exc.OperationalError'
    TASK_RETRY_MAX: Annotated[int, Field(ge=0, le=100)] = 4
    TASK_RETRY_BACKOFF_BASE: Annotated[int, Field(ge=1)] = 60  # Celery's retry_backoff counts whole seconds
    TASK_RETRY_BACKOFF_CAP: Annotated[int, Field(ge=1)] = 3600
    TASK_RETRY_JITTER: bool = True
    TASK_QUEUES: list[QueueSpec] = Field(default_factory=default_queues, min_length=1)
    TASK_ROUTES: dict[str, str] = Field(default_factory=dict)
    # RabbitMQ cluster: replicated quorum queues (no priorities) instead of classic ones
    TASK_QUEUE_TYPE: Literal['classic', 'quorum'] = 'classic'
    TASK_QUEUE_DELIVERY_LIMIT: Annotated[int, Field(ge=2, le=1000)] = 20

    # Worker hot path (TASK_* so Celery's CLI does not read them as worker options)
    TASK_TRACK_STARTED: bool = True
    TASK_RESULT_BATCH: Annotated[int, Field(ge=1, le=1000)] = 1
    # One switch for the settings above and the pool: `throughput` changes their defaults (WORKER_PROFILES)
    WORKER_PROFILE: Literal['default', 'throughput'] = 'default'

    # Operations: Flower, worker metrics and `fba health` (FLOWER_* mean the same as Flower's own options)
    FLOWER_PORT: Port = 8555
    FLOWER_ADDRESS: str = '127.0.0.1'
    FLOWER_BASIC_AUTH: SecretStr | None = None
    FLOWER_PERSISTENT: bool = True
    FLOWER_DATA_DIR: Path = Path('.fba/flower')
    CELERY_RABBITMQ_MANAGEMENT_PORT: Annotated[int, Field(ge=0, le=65535)] = 15672
    METRICS_PORT: Annotated[int, Field(ge=0, le=65535)] = 0
    METRICS_ADDRESS: str = '127.0.0.1'

    # Beat: the database scheduler (TASK_BEAT_* so Celery's CLI does not read them as beat options)
    TASK_BEAT_MAX_LOOP_INTERVAL: Annotated[float, Field(gt=0, le=300)] = 5.0
    TASK_BEAT_POLL_SECONDS: Annotated[float, Field(gt=0, le=3600)] = 5.0
    TASK_BEAT_BATCH_SIZE: Annotated[int, Field(ge=1, le=10_000)] = 1000
    TASK_BEAT_CATCH_UP_LIMIT: Annotated[int, Field(ge=1, le=10_000)] = 100
    TASK_BEAT_REDISPATCH_SECONDS: Annotated[float, Field(gt=0)] = 60.0
    TASK_BEAT_RUN_RETENTION_DAYS: Annotated[int, Field(ge=1)] = 30

    # HTTP API (`fba api`)
    API_TOKENS: SecretStr = SecretStr('')
    API_MAX_BODY_BYTES: PositiveInt = 1_048_576
    API_SEND_BATCH_MAX: Annotated[int, Field(ge=1, le=10_000)] = 500
    API_DOCS: bool = True

    @field_validator('CELERY_BROKER_URL', mode='before')
    @classmethod
    def _not_a_broker_kind(cls, value: object) -> object:
        # `celery -A … worker` reads CELERY_BROKER as its own --broker option and copies
        # it into CELERY_BROKER_URL; a bare kind (or blank) there is not a URL override.
        return None if value in ('', *BROKER_KINDS) else value

    @field_validator('CELERY_RABBITMQ_HOST')
    @classmethod
    def _some_host(cls, value: str) -> str:
        if not any(part.strip() for part in value.split(',')):
            raise ValueError("needs a host, or several comma-separated: 'node1,node2:5673'")
        return value

    @field_validator('FLOWER_BASIC_AUTH', mode='before')
    @classmethod
    def _user_colon_password(cls, value: object) -> object:
        if value in ('', None):
            return None
        user, _, password = str(value).partition(':')
        if not user or not password:
            raise ValueError("must be 'user:password' with both parts set")
        return value

    @field_validator('TIMEZONE')
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone; use a name such as 'UTC' or 'Europe/Berlin'") from None
        return value

    @field_validator('TASK_RETRY_ON')
    @classmethod
    def _exception_names(cls, value: str) -> str:
        if not all(re.fullmatch(r'[A-Za-z_][\w.]*', name.strip()) for name in value.split(',') if name.strip()):
            raise ValueError("must be comma-separated exception names, e.g. 'ConnectionError,psycopg.OperationalError'")
        return value

    @model_validator(mode='after')
    def _queues_routable(self) -> 'Settings':
        names = [queue.name for queue in self.TASK_QUEUES]
        if 'default' not in names or len(set(names)) != len(names):
            raise ValueError("TASK_QUEUES needs unique names, one of them 'default'")
        unknown = sorted(set(self.TASK_ROUTES.values()) - set(names))
        if unknown:
            raise ValueError(f'TASK_ROUTES sends to queues missing from TASK_QUEUES: {", ".join(unknown)}')
        return self

    @model_validator(mode='after')
    def _apply_worker_profile(self) -> 'Settings':
        # Only the settings left unset: an explicit CELERY_WORKER_PREFETCH_MULTIPLIER=50 wins over the profile's 200.
        for name, value in WORKER_PROFILES[self.WORKER_PROFILE].items():
            if name not in self.model_fields_set:
                setattr(self, name, value)
        return self

    @model_validator(mode='after')
    def _quorum_needs_rabbitmq(self) -> 'Settings':
        if self.TASK_QUEUE_TYPE == 'quorum' and self.CELERY_BROKER != 'rabbitmq':
            raise ValueError('TASK_QUEUE_TYPE=quorum needs CELERY_BROKER=rabbitmq (quorum queues are RabbitMQ queues)')
        return self

    @property
    def retry_on_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.TASK_RETRY_ON.split(',') if name.strip())

    @field_validator('API_TOKENS')
    @classmethod
    def _long_tokens(cls, value: SecretStr) -> SecretStr:
        if any(len(token) < API_TOKEN_MIN_LENGTH for token in split_tokens(value)):
            raise ValueError(f'every comma-separated token needs at least {API_TOKEN_MIN_LENGTH} characters')
        return value

    @property
    def api_tokens(self) -> tuple[str, ...]:
        """The bearer tokens the API accepts; none configured means every protected route answers 401."""
        return split_tokens(self.API_TOKENS)

    @property
    def broker_url(self) -> str:
        if self.CELERY_BROKER_URL is not None:
            return self.CELERY_BROKER_URL.get_secret_value()
        if self.CELERY_BROKER == 'redis':
            auth = f':{quote(self.REDIS_PASSWORD.get_secret_value(), safe="")}@' if self.REDIS_PASSWORD else ''
            return f'redis://{auth}{self.REDIS_HOST}:{self.REDIS_PORT}/{self.CELERY_BROKER_REDIS_DATABASE}'
        user = quote(self.CELERY_RABBITMQ_USERNAME, safe='')
        password = quote(self.CELERY_RABBITMQ_PASSWORD.get_secret_value(), safe='')
        vhost = quote(self.CELERY_RABBITMQ_VHOST, safe='')
        # Several hosts (a cluster): Celery's fail-over list, one URL per node, tried in turn.
        return ';'.join(f'amqp://{user}:{password}@{host}/{vhost}' for host in self.rabbitmq_hosts)

    @property
    def rabbitmq_hosts(self) -> list[str]:
        """`host:port` of each node in CELERY_RABBITMQ_HOST (comma-separated; a bare host: CELERY_RABBITMQ_PORT)."""
        hosts = [part.strip() for part in self.CELERY_RABBITMQ_HOST.split(',') if part.strip()]
        return [host if ':' in host else f'{host}:{self.CELERY_RABBITMQ_PORT}' for host in hosts]

    def database_url(self, driver: Literal['asyncpg', 'psycopg']) -> str:
        """SQLAlchemy URL: asyncpg for the API side, psycopg 3 for workers and beat."""
        return f'postgresql+{driver}://{self._database_authority()}'

    @property
    def database_dsn(self) -> str:
        """Plain libpq DSN, for the raw psycopg connections of the result backend and beat."""
        return f'postgresql://{self._database_authority()}'

    @property
    def database_listen_dsn(self) -> str | None:
        """Where beat can LISTEN: PostgreSQL itself. None behind PgBouncer without a direct address (beat polls),
        since a pooled server connection changes hands between transactions and its notifications get lost."""
        if self.DATABASE_PGBOUNCER and not (self.DATABASE_DIRECT_HOST or self.DATABASE_DIRECT_PORT):
            return None
        host = self.DATABASE_DIRECT_HOST or self.DATABASE_HOST
        return f'postgresql://{self._database_authority(host, self.DATABASE_DIRECT_PORT or self.DATABASE_PORT)}'

    @property
    def raw_prepare_threshold(self) -> int | None:
        """psycopg's `prepare_threshold` for the raw hot-path connections: every statement prepared (0), or none
        behind PgBouncer, whose next transaction may run on a server connection that never saw the PREPARE."""
        return None if self.DATABASE_PGBOUNCER else 0

    def database_connect_args(self, driver: Literal['asyncpg', 'psycopg']) -> dict[str, Any]:
        """Driver options of the SQLAlchemy engines: a bounded connect, and behind PgBouncer no statement that
        outlives its transaction."""
        if driver == 'psycopg':
            timeout = {'connect_timeout': DATABASE_CONNECT_TIMEOUT}
            return {**timeout, 'prepare_threshold': None} if self.DATABASE_PGBOUNCER else timeout
        if not self.DATABASE_PGBOUNCER:
            return {'timeout': DATABASE_CONNECT_TIMEOUT}
        # asyncpg always prepares; unique names keep two clients' statements apart on one server connection.
        return {
            'timeout': DATABASE_CONNECT_TIMEOUT,
            'statement_cache_size': 0,
            'prepared_statement_cache_size': 0,
            'prepared_statement_name_func': lambda: f'__asyncpg_{uuid4()}__',
        }

    def _database_authority(self, host: str | None = None, port: int | None = None) -> str:
        user = quote(self.DATABASE_USER, safe='')
        password = self.DATABASE_PASSWORD.get_secret_value()
        auth = f'{user}:{quote(password, safe="")}' if password else user
        host, port = host or self.DATABASE_HOST, port or self.DATABASE_PORT
        return f'{auth}@{host}:{port}/{quote(self.DATABASE_NAME, safe="")}'


def describe_errors(error: ValidationError) -> str:
    """One line naming each bad variable, its value and what is accepted."""
    parts = []
    for item in error.errors():
        name = '.'.join(str(part) for part in item['loc'])
        message = item['msg'].removeprefix('Value error, ')
        shown = '***' if any(word in name for word in SECRET_WORDS) else repr(item.get('input'))
        parts.append(f'{name}={shown}: {message}')
    return 'Invalid setting ' + '; '.join(parts)


def load_settings(env_file: str | None = None) -> Settings:
    """Read the settings, raising `SettingsError` with one line instead of a traceback."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None


def undo_celery_cli_broker_echo() -> None:
    """Give CELERY_BROKER_URL back the value the process started with.

    `celery -A … worker` reads CELERY_BROKER as its own --broker option and writes
    it into CELERY_BROKER_URL, which Celery then prefers over any configuration.
    Linux keeps the environment a process started with in /proc/self/environ.
    """
    if os.environ.get('CELERY_BROKER_URL', '').strip() not in ('', *BROKER_KINDS):
        return
    original = _initial_environment().get('CELERY_BROKER_URL', '').strip()
    if original in ('', *BROKER_KINDS):
        os.environ.pop('CELERY_BROKER_URL', None)
    else:
        os.environ['CELERY_BROKER_URL'] = original


def _initial_environment() -> dict[str, str]:
    try:
        raw = Path('/proc/self/environ').read_bytes()
    except OSError:
        return {}
    pairs = (item.split('=', 1) for item in raw.decode(errors='replace').split('\0') if '=' in item)
    return dict(pairs)


@lru_cache
def get_settings() -> Settings:
    return load_settings(os.environ.get('FBA_ENV_FILE', '.env') or None)
