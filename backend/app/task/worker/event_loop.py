"""One asyncio loop per worker process, running in a daemon thread.

`async def` tasks are submitted here instead of `asyncio.run` per task, so an
asyncpg pool or an HTTP client created by one task is reused by the next. The
loop is created lazily and re-created after a fork (a child inherits the loop
object but not the thread running it).
"""

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar('T')


class LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name='fba-event-loop', daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # A time limit or revoke interrupts the waiting thread: stop the coroutine too.
            future.cancel()
            raise

    def stop(self) -> None:
        from backend.database.db import dispose_async_engine  # only a process that ran async tasks gets here

        asyncio.run_coroutine_threadsafe(dispose_async_engine(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


_current: LoopThread | None = None
_lock = threading.Lock()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on this process's loop and return its result."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = LoopThread()
        runner = _current
    return runner.run(coro)


def stop_event_loop(**_: Any) -> None:
    """Signal handler for worker (process) shutdown: close pools, then the loop."""
    global _current
    with _lock:
        runner, _current = _current, None
    if runner is not None and runner.pid == os.getpid():
        runner.stop()
