"""`fba health`: does the broker, the database and at least one worker answer? One line per check.

Exit 0 only when every chosen check passes, so it works as a Kubernetes
probe or a compose health check; all checks run at once and each gives up
after `--timeout` seconds. No line carries a URL or a password.
"""

import base64
import concurrent.futures
import contextlib
import importlib
import math
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import typer
from rich.console import Console
from rich.text import Text

from backend.app.task.constants import BEAT_NODE_PREFIX
from backend.cli import up_file

if TYPE_CHECKING:
    from backend.core.conf import Settings

API_HEALTH_PATH = '/api/v1/monitoring/health'
DEFAULT_CHECKS = 'broker,database,worker'
DEFAULT_API_URL = 'http://127.0.0.1:8000'

Check: TypeAlias = 'Callable[[Settings, float], str]'


def check_broker(settings: 'Settings', timeout: float) -> str:
    from kombu import Connection

    urls = settings.broker_url.split(';')  # a cluster's nodes: the check passes when any one answers
    with Connection(urls, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=len(urls), interval_start=0, interval_step=0, timeout=timeout)
    return f'{settings.CELERY_BROKER} accepts connections'


def check_database(settings: 'Settings', timeout: float) -> str:
    import psycopg

    with psycopg.connect(settings.database_dsn, connect_timeout=max(1, math.ceil(timeout))) as conn:
        conn.execute('SELECT 1')
    return 'PostgreSQL answers'


def check_worker(settings: 'Settings', timeout: float) -> str:
    from backend.app.task.celery import celery_app

    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        replies = celery_app.control.ping(timeout=timeout, connection=conn)
    nodes = sorted(name for reply in replies for name in reply)
    workers = [node for node in nodes if not node.startswith(BEAT_NODE_PREFIX)]
    beat = f'; beat answered too: {", ".join(sorted(set(nodes) - set(workers)))}' if len(workers) < len(nodes) else ''
    if not workers:
        raise RuntimeError(f'no worker answered ping within {timeout:g} s{beat}')
    return f'{len(workers)} worker(s) answered ping: {", ".join(workers)}{beat}'


def http_get(url: str, timeout: float, login: str | None = None) -> int:
    """GET `url` and return the status code (4xx/5xx included)."""
    request = urllib.request.Request(url)
    if login:
        request.add_header('Authorization', 'Basic ' + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _expect_200(what: str, url: str, timeout: float, login: str | None = None) -> str:
    status = http_get(url, timeout, login)
    if status != 200:
        raise RuntimeError(f'{what} answered HTTP {status}')
    return f'{what} answered HTTP 200'


def check_flower(settings: 'Settings', timeout: float) -> str:
    login = settings.FLOWER_BASIC_AUTH.get_secret_value() if settings.FLOWER_BASIC_AUTH else None
    host = '127.0.0.1' if settings.FLOWER_ADDRESS in ('', '0.0.0.0') else settings.FLOWER_ADDRESS
    return _expect_200('Flower', f'http://{host}:{settings.FLOWER_PORT}/tasks', timeout, login)


def check_api(base_url: str) -> Check:
    url = base_url.rstrip('/') + API_HEALTH_PATH

    def check(_settings: 'Settings', timeout: float) -> str:
        try:
            return _expect_200(f'API at {url}', url, timeout)
        except OSError as error:  # refused, unreachable, timed out: say where
            raise RuntimeError(f'API at {url} did not answer: {getattr(error, "reason", error)}') from None

    return check


CHECKS: dict[str, Check] = {
    'broker': check_broker,
    'database': check_database,
    'worker': check_worker,
    'flower': check_flower,
}


#: What each check imports. `health` imports them before the checks run side by side in threads: two threads
#: importing one package for the first time at once may deadlock on its import lock or see it half made.
CHECK_MODULES = {'broker': 'kombu.connection', 'database': 'psycopg', 'worker': 'backend.app.task.celery'}


def _run(check: Check, settings: 'Settings', timeout: float) -> tuple[bool, str]:
    try:
        return True, check(settings, timeout)
    except Exception as error:
        text = str(error).strip().splitlines()
        return False, f'{type(error).__name__}: {text[0] if text else "no answer"}'


def health(
    only: str = typer.Option(DEFAULT_CHECKS, '--only', help=f'Comma-separated checks: {", ".join(CHECKS)}, api'),
    timeout: float = typer.Option(5.0, '--timeout', min=0.1, help='Seconds each check may take'),
    api_url: str | None = typer.Option(
        None,
        '--api-url',
        help=f"Base URL of the API for the api check (default: the running `fba up`'s, else {DEFAULT_API_URL})",
    ),
) -> None:
    """Check broker, database and workers (or the --only ones); exit 0 only when all answer."""
    names = [name.strip() for name in only.split(',') if name.strip()]
    unknown = [name for name in names if name not in (*CHECKS, 'api')]
    if unknown or not names:
        raise typer.BadParameter(f'choose from {", ".join(CHECKS)}, api', param_hint='--only')
    from backend.core.conf import get_settings

    settings = get_settings()
    api = api_url or up_file.read_url('api') or DEFAULT_API_URL
    checks = {name: CHECKS.get(name) or check_api(api) for name in names}
    for name in names:
        if name in CHECK_MODULES:
            with contextlib.suppress(Exception):  # a module that fails to import fails its check, in its line
                importlib.import_module(CHECK_MODULES[name])
    with concurrent.futures.ThreadPoolExecutor(len(checks)) as pool:
        futures = {name: pool.submit(_run, check, settings, timeout) for name, check in checks.items()}
        results = {name: future.result() for name, future in futures.items()}
    console = Console(highlight=False, soft_wrap=True)
    for name, (ok, detail) in results.items():
        # Text, not markup: a detail is an error's message, which may hold brackets.
        console.print(Text.assemble(('ok  ', 'green') if ok else ('FAIL', 'red'), f' {name:<9} {detail}'))
    raise typer.Exit(0 if all(ok for ok, _ in results.values()) else 1)
