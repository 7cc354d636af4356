"""What `fba up` runs against: the configured services, or embedded ones when nothing is set up.

With no `.env` and neither PostgreSQL nor the broker answering, a laptop with
only Python gets embedded servers; as soon as anything is configured or
answers, the configured services are used, and a half-working setup (one
answers, the other does not) stops with the missing one named: never a silent
mix of embedded and real services.
"""

import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import typer

from backend.app.task.utils.outage import ServicesUnavailable
from backend.core.conf import Settings, get_settings
from backend.database import migrate
from backend.embedded.files import write_private
from backend.embedded.process import answers
from backend.embedded.stack import DATA_ROOT, embedded_servers

DEFAULT_PORTS = {'amqp': 5672, 'pyamqp': 5672, 'redis': 6379, 'rediss': 6380}
FLOWER_USER = 'fba'
ENV_FILE = DATA_ROOT / 'embedded.env'


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f'{self.name} at {self.host}:{self.port}'


def endpoints(settings: Settings) -> tuple[Endpoint, Endpoint]:
    """The database and broker addresses the settings point at."""
    broker = urlsplit(settings.broker_url)
    broker_name = 'Redis' if broker.scheme.startswith('redis') else 'RabbitMQ'
    return (
        Endpoint('PostgreSQL', settings.DATABASE_HOST, settings.DATABASE_PORT),
        Endpoint(broker_name, broker.hostname or 'localhost', broker.port or DEFAULT_PORTS.get(broker.scheme, 5672)),
    )


def should_embed(settings: Settings, *, env_file: Path | None) -> bool:
    """True when nothing is configured and nothing answers; raise when only one of the two answers."""
    database, broker = endpoints(settings)
    database_up, broker_up = answers(database.host, database.port), answers(broker.host, broker.port)
    if database_up and broker_up:
        return False
    if database_up or broker_up:
        missing, present = (broker, database) if database_up else (database, broker)
        raise ServicesUnavailable(
            f'{missing} does not answer while {present} does; start {missing.name}, '
            'or run `fba up --embedded` to use embedded servers for both.'
        )
    if env_file is not None and env_file.exists():
        raise ServicesUnavailable(
            f'Neither {database} nor {broker} answers (as configured in {env_file}); '
            'start them, or run `fba up --embedded`.'
        )
    return True


@contextmanager
def services_for_up(*, embedded: bool) -> Iterator[None]:
    """Point this process's environment, which the children inherit, at migrated services for the block."""
    if not embedded and should_embed(get_settings(), env_file=configured_env_file()):
        database, broker = endpoints(get_settings())
        typer.echo(
            f'No .env and nothing answers at {database} or {broker}: '
            f'starting embedded PostgreSQL and Redis (data in {DATA_ROOT}/).'
        )
        embedded = True
    if not embedded:
        migrate.upgrade()
        _apply(_development_credentials())
        yield
        return
    with _sigterm_unwinds(), embedded_servers() as environ:
        _apply(environ)
        migrate.upgrade()
        typer.echo(
            f'Embedded PostgreSQL on 127.0.0.1:{environ["DATABASE_PORT"]} and Redis on '
            f'127.0.0.1:{environ["REDIS_PORT"]}, data in {DATA_ROOT.resolve()}'
        )
        credentials = _development_credentials()
        _apply(credentials)
        with _env_file({**environ, **credentials}):
            yield
    typer.echo('Embedded PostgreSQL and Redis stopped.')


def configured_env_file() -> Path | None:
    """The env file the settings read (FBA_ENV_FILE, default `.env`), or None when reading one is switched off."""
    name = os.environ.get('FBA_ENV_FILE', '.env')
    return Path(name) if name else None


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM outside the supervisor's watch (servers starting, migrations) exits through `finally`, stopping them."""

    def exit_(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _apply(environ: dict[str, str]) -> None:
    os.environ.update(environ)
    get_settings.cache_clear()


def _development_credentials() -> dict[str, str]:
    """Flower and the API need credentials; those not configured are made for this run and shown once."""
    settings, made = get_settings(), {}
    if settings.FLOWER_BASIC_AUTH is None:
        password = secrets.token_urlsafe(12)
        made['FLOWER_BASIC_AUTH'] = f'{FLOWER_USER}:{password}'
        typer.echo(f'Flower login for this run: user {FLOWER_USER}, password {password}')
    if not settings.api_tokens:
        made['API_TOKENS'] = secrets.token_urlsafe(24)
        typer.echo(f'API bearer token for this run: {made["API_TOKENS"]}')
    return made


@contextmanager
def _env_file(environ: dict[str, str]) -> Iterator[None]:
    """While the stack runs, `.fba/embedded.env` (mode 0600: it holds every password) lets other fba commands
    (FBA_ENV_FILE=...) reach it."""
    write_private(ENV_FILE, ''.join(f'{name}={value}\n' for name, value in environ.items()))
    typer.echo(f'Other fba commands reach this stack with: FBA_ENV_FILE={ENV_FILE} fba task send task.ping --wait')
    try:
        yield
    finally:
        ENV_FILE.unlink(missing_ok=True)
