"""What several `fba` sub-commands share: the output console, checked arguments, and a database transaction."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from backend.app.task.constants import API_ID_MAX, API_OFFSET_MAX

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from backend.app.task.celery import TaskApp

T = TypeVar('T')

#: A row id argument (a dead letter's, a schedule's): a PostgreSQL bigint.
ROW_ID = typer.Argument(..., min=1, max=API_ID_MAX, metavar='ID', show_default=False)
#: `--offset` of the list commands.
OFFSET = typer.Option(0, '--offset', min=0, max=API_OFFSET_MAX)
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'FATAL')


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f'{value!r} is not one of {", ".join(LOG_LEVELS)}')
    return value.upper()


#: `--loglevel` of the processes (checked here: Celery would fail on it with a traceback, or after starting).
LOG_LEVEL = typer.Option('INFO', '--loglevel', '-l', callback=_log_level, help=', '.join(LOG_LEVELS))

# Piped output (tests, scripts) is not cut to 80 columns. What it prints comes from users and tasks (names,
# exception messages), so nothing is read as markup or emoji codes: `[/x]` in a message is shown, not an error.
console = Console(width=None if sys.stdout.isatty() else 200, markup=False, emoji=False, highlight=False)


def in_transaction(work: 'Callable[[AsyncSession], Awaitable[T]]') -> T:
    """Run `work` in one transaction that commits when it returns."""
    from backend.database.db import async_session, dispose_async_engine

    async def main() -> T:
        try:
            async with async_session() as db:
                return await work(db)
        finally:
            await dispose_async_engine()

    return asyncio.run(main())


def task_app() -> 'TaskApp':
    """The process's Celery app with the drop-in task modules, loaded when a command needs it (not at `fba`'s start)."""
    from backend.app.task.celery import task_app as loaded_app

    return loaded_app()
