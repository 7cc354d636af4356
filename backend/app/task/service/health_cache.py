"""The open health route's answer: reused while fresh, and computed by one probe at a time.

Anyone may call `GET /monitoring/health`, so its cost must not grow with the
callers: a result younger than `MAX_AGE` seconds is answered as is, and
callers arriving while a probe runs wait for that probe instead of starting
their own. The probe itself bounds each of its checks.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from backend.app.task.schema.monitoring import GetHealthDetail

#: Seconds a health result is answered again; with a probe's own duration, an answer is at most about 2 s old.
MAX_AGE = 1.0


class HealthCache:
    def __init__(self, probe: Callable[[], Awaitable[GetHealthDetail]], max_age: float = MAX_AGE) -> None:
        self._probe = probe
        self._max_age = max_age
        self._last: tuple[float, GetHealthDetail] | None = None
        self._running: asyncio.Future[GetHealthDetail] | None = None

    async def get(self) -> GetHealthDetail:
        if self._last is not None and time.monotonic() - self._last[0] <= self._max_age:
            return self._last[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        # Shielded: a caller that disconnects does not cancel the probe the others wait for.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> GetHealthDetail:
        try:
            detail = await self._probe()
            self._last = (time.monotonic(), detail)
            return detail
        finally:
            self._running = None
