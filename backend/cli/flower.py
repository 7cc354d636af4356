"""Flower's command line built from the settings: port, login, broker page and (private) state file.

Secrets (the login and the RabbitMQ management URL) reach Flower through its
own FLOWER_* environment variables, never on the command line, so they show in
neither `ps` nor a log line.
"""

import contextlib
import logging
import os
import socket
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from backend.app.task.errors import TaskError
from backend.core.conf import Settings

STATE_FILE = 'flower.db'
#: Flower's warning when no worker answered an inspect broadcast: at every start before the workers are up (and
#: whenever none runs). Flower asks again on its next refresh, so the line says nothing to act on.
NO_INSPECT_REPLY = 'Inspect method %s failed'
#: Flower's error on every broker page view when RabbitMQ's management API does not answer (said once instead).
MANAGEMENT_CALL_FAILED = 'RabbitMQ management API call failed: %s'


class FlowerWithoutLogin(TaskError):
    """Flower needs a login: set FLOWER_BASIC_AUTH=user:password (or pass --dev on a development machine)."""


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def broker_api_url(settings: Settings) -> str | None:
    """The RabbitMQ management API for Flower's broker page, when RabbitMQ is the broker and the API answers."""
    if settings.CELERY_BROKER != 'rabbitmq' or not settings.CELERY_RABBITMQ_MANAGEMENT_PORT:
        return None
    broker = urlsplit(settings.broker_url)
    if not broker.hostname or not _answers(broker.hostname, settings.CELERY_RABBITMQ_MANAGEMENT_PORT):
        return None
    user = quote(unquote(broker.username or 'guest'), safe='')
    password = quote(unquote(broker.password or ''), safe='')
    return f'http://{user}:{password}@{broker.hostname}:{settings.CELERY_RABBITMQ_MANAGEMENT_PORT}/api/'


class _DropMessages(logging.Filter):
    """Drops a logger's records by their message template; everything else it logs stays."""

    def __init__(self, *templates: str) -> None:
        super().__init__()
        self.templates = templates

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.templates


def quiet_flower_logs(settings: Settings) -> str | None:
    """Silence Flower's two repeated, unactionable log lines; the sentence to print once instead, if any."""
    logging.getLogger('flower.inspector').addFilter(_DropMessages(NO_INSPECT_REPLY))
    if settings.CELERY_BROKER != 'rabbitmq' or os.environ.get('FLOWER_BROKER_API'):
        return None
    logging.getLogger('flower.utils.broker').addFilter(_DropMessages(MANAGEMENT_CALL_FAILED))
    port = settings.CELERY_RABBITMQ_MANAGEMENT_PORT
    if not port:  # switched off on purpose: nothing to tell
        return None
    return (
        f"Flower's broker page stays empty: RabbitMQ's management API does not answer on port {port}; "
        'enable the rabbitmq_management plugin to see the queues there.'
    )


def flower_argv(settings: Settings, *, port: int | None, address: str | None, dev: bool) -> list[str]:
    """Arguments for `celery flower`; puts the secrets in this process's environment for Flower to read."""
    login = settings.FLOWER_BASIC_AUTH
    if login is None and not dev:
        raise FlowerWithoutLogin()
    _set_env('FLOWER_BASIC_AUTH', login.get_secret_value() if login else None)
    _set_env('FLOWER_BROKER_API', broker_api_url(settings))
    argv = [
        'flower',
        f'--port={port or settings.FLOWER_PORT}',
        f'--address={address or settings.FLOWER_ADDRESS}',
        f'--persistent={settings.FLOWER_PERSISTENT}',
    ]
    if settings.FLOWER_PERSISTENT:
        _private_state_dir(settings.FLOWER_DATA_DIR)
        argv.append(f'--db={settings.FLOWER_DATA_DIR / STATE_FILE}')
    return argv


def _private_state_dir(folder: Path) -> None:
    """The state file holds every task's arguments, results and errors: only Flower's user may read it.

    The folder is 0700 (unless another user owns it, a mounted volume say) and
    files Flower creates from now on are 0600 (this process's umask); state
    files left readable by an older run are closed too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        folder.chmod(0o700)
    os.umask(0o077)
    for existing in folder.glob(f'{STATE_FILE}*'):
        existing.chmod(0o600)


def _set_env(name: str, value: str | None) -> None:
    # An empty FLOWER_BASIC_AUTH in the environment would make Flower expect an empty login.
    if value:
        os.environ[name] = value
    else:
        os.environ.pop(name, None)
