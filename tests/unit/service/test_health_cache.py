"""The health cache: one probe at a time for any number of callers, and a result reused only while fresh."""

import asyncio
import time

from backend.app.task.schema.monitoring import GetHealthDetail
from backend.app.task.service.health_cache import HealthCache

OK = GetHealthDetail(status='ok', broker=True, database=True, workers=1)


class GatedProbe:
    """A probe that counts its runs and finishes only when the test opens the gate."""

    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()

    async def __call__(self) -> GetHealthDetail:
        self.runs += 1
        await self.gate.wait()
        return OK


async def test_concurrent_callers_share_one_probe() -> None:
    probe = GatedProbe()
    cache = HealthCache(probe, max_age=60)
    # Given 40 callers arriving while no result is cached
    callers = [asyncio.ensure_future(cache.get()) for _ in range(40)]
    await asyncio.sleep(0)  # let every caller reach the cache (a scheduling turn, not a wait on time)
    # When the one probe finishes
    probe.gate.set()
    # Then all got its answer, and a later caller the cached one
    assert await asyncio.gather(*callers) == [OK] * 40
    assert await cache.get() == OK
    assert probe.runs == 1


async def test_a_result_older_than_max_age_is_probed_again() -> None:
    probe = GatedProbe()
    probe.gate.set()
    cache = HealthCache(probe, max_age=0.05)
    await cache.get()
    probed_at = time.monotonic()
    while time.monotonic() - probed_at <= 0.05:
        assert await cache.get() == OK and probe.runs == 1
        await asyncio.sleep(0.01)
    await cache.get()
    assert probe.runs == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_probe_of_the_others() -> None:
    probe = GatedProbe()
    cache = HealthCache(probe, max_age=60)
    leaving, staying = asyncio.ensure_future(cache.get()), asyncio.ensure_future(cache.get())
    await asyncio.sleep(0)
    leaving.cancel()
    probe.gate.set()
    assert await staying == OK and probe.runs == 1
