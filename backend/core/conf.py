"""Every setting of the framework, read once from the environment (and `.env`).

A bad value must stop start-up with one readable line, whatever the entry point
(`fba`, `celery -A …`, uvicorn), so `get_settings` raises `SettingsError`, a
`SystemExit` carrying that line.
"""

import os
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(ge=1)]
BROKER_KINDS = ('rabbitmq', 'redis')
SECRET_WORDS = ('PASSWORD', 'TOKEN', 'URL', 'AUTH', 'SECRET')


class SettingsError(SystemExit):
    """A setting has a value the framework cannot run with."""


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

    @field_validator('CELERY_BROKER_URL', mode='before')
    @classmethod
    def _not_a_broker_kind(cls, value: object) -> object:
        # `celery -A … worker` reads CELERY_BROKER as its own --broker option and copies
        # it into CELERY_BROKER_URL; a bare kind (or blank) there is not a URL override.
        return None if value in ('', *BROKER_KINDS) else value

    @field_validator('TIMEZONE')
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone; use a name such as 'UTC' or 'Europe/Berlin'") from None
        return value

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
        return f'amqp://{user}:{password}@{self.CELERY_RABBITMQ_HOST}:{self.CELERY_RABBITMQ_PORT}/{vhost}'

    def database_url(self, driver: Literal['asyncpg', 'psycopg']) -> str:
        """SQLAlchemy URL: asyncpg for the API side, psycopg 3 for workers and beat."""
        return f'postgresql+{driver}://{self._database_authority()}'

    @property
    def database_dsn(self) -> str:
        """Plain libpq DSN, for the raw psycopg connections of the result backend and beat."""
        return f'postgresql://{self._database_authority()}'

    def _database_authority(self) -> str:
        user = quote(self.DATABASE_USER, safe='')
        password = self.DATABASE_PASSWORD.get_secret_value()
        auth = f'{user}:{quote(password, safe="")}' if password else user
        return f'{auth}@{self.DATABASE_HOST}:{self.DATABASE_PORT}/{quote(self.DATABASE_NAME, safe="")}'


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


def drop_celery_cli_broker_echo() -> None:
    """Celery prefers the environment's CELERY_BROKER_URL over its config; remove the CLI's echo of CELERY_BROKER."""
    if os.environ.get('CELERY_BROKER_URL', '').strip() in ('', *BROKER_KINDS):
        os.environ.pop('CELERY_BROKER_URL', None)


@lru_cache
def get_settings() -> Settings:
    return load_settings(os.environ.get('FBA_ENV_FILE', '.env') or None)
