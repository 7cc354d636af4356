"""How every `fba` command fails: one sentence on stderr and exit code 1, never a traceback.

Commands just raise. `TaskError` carries its own sentence; click's usage errors
(a wrong type, a value out of range, a missing argument), pydantic's
validation errors and Alembic's (an unknown revision) are expected input
errors; an infrastructure error (PostgreSQL or the broker down, a database not
migrated) is recognised by `find_outage` whatever driver raised it. Anything
else is a bug and keeps its traceback.
"""

import errno
import sys
from typing import NoReturn
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.text import Text

from backend.app.task.discovery import TaskModuleError
from backend.app.task.errors import TaskError
from backend.core.conf import SettingsError

# The click typer runs on (recent typers vendor their own copy): its usage errors, and the one that shows help.
_click_errors = sys.modules[typer.BadParameter.__module__]
UsageFailure: type[Exception] = _click_errors.ClickException
HelpShown: tuple[type[Exception], ...] = tuple(filter(None, [getattr(_click_errors, 'NoArgsIsHelpError', None)]))

stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def run_cli(app: typer.Typer) -> NoReturn:
    """Run `app` and exit with its code; an expected failure exits 1 after one sentence on stderr."""
    try:
        code = app(standalone_mode=False)
    except HelpShown as shown:  # `fba` or a group given no sub-command: its help, not a failure
        shown.show()  # type: ignore[attr-defined]
        sys.exit(0)
    except typer.Abort:
        sys.exit(130)
    except (SettingsError, TaskModuleError) as error:  # start-up failures: their line alone, as Python prints an exit
        sys.exit(str(error))
    except Exception as error:
        sentence = failure_sentence(error)
        if sentence is None:
            raise
        fail(sentence)
    sys.exit(code if isinstance(code, int) else 0)


def fail(sentence: str) -> NoReturn:
    stderr.print(Text.assemble(('Error:', 'red'), ' ', ' '.join(sentence.split())))
    sys.exit(1)


def failure_sentence(error: Exception) -> str | None:
    """The one sentence for an expected failure, or None for a bug (which keeps its traceback)."""
    if isinstance(error, TaskError):
        return error.message
    if isinstance(error, UsageFailure):
        return _full_stop(error.format_message())  # type: ignore[attr-defined]
    # Only `fba db` imports Alembic, so no other command's error can be one of its. Importing it here would log
    # its plugin set-up through a logging configuration a command made (Flower's, at INFO) on the way out.
    alembic_errors = sys.modules.get('alembic.util.exc')
    if alembic_errors is not None and isinstance(error, alembic_errors.CommandError):  # unknown revision, branch point
        return _full_stop(str(error))
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:  # `fba flower --port` taken
        return f'Cannot listen on the port given: {error.strerror}.'
    if isinstance(error, ValidationError):
        return 'Invalid input: ' + '; '.join(_field_error(item) for item in error.errors()) + '.'
    from backend.app.task.utils.outage import find_outage

    outage = find_outage(error)
    if outage is None:
        return None
    where = _where(outage.service)
    if outage.not_migrated:
        return f'{where} is not migrated ({outage.reason}); run `fba db upgrade`.'
    return f'Cannot connect to {where}: {_full_stop(outage.reason)}'


def _where(service: str) -> str:
    from backend.core.conf import get_settings

    settings = get_settings()
    if service == 'database':
        return f'PostgreSQL database {settings.DATABASE_NAME} at {settings.DATABASE_HOST}:{settings.DATABASE_PORT}'
    broker = urlsplit(settings.broker_url)  # host and port only: the URL may hold a password
    return f'the broker ({settings.CELERY_BROKER} at {broker.hostname}:{broker.port})'


def _field_error(item: ErrorDetails) -> str:
    field = '.'.join(str(part) for part in item['loc'])
    message = str(item['msg']).removeprefix('Value error, ')
    return f'{field}: {message}' if field else message


def _full_stop(text: str) -> str:
    text = text.strip()
    return text if text.endswith(('.', '?', '!')) else text + '.'
