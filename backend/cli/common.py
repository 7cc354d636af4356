"""What several `fba` sub-commands share: the output console and a database transaction around service calls."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar('T')

# Piped output (tests, scripts) is not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction that commits when it returns."""
    from backend.database.db import async_session, dispose_async_engine

    async def main() -> T:
        try:
            async with async_session() as db:
                return await work(db)
        finally:
            await dispose_async_engine()

    return asyncio.run(main())
