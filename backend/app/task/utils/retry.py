"""When a failed task runs again: which exceptions retry, how often, and how long it waits in between.

Defaults come from the `TASK_RETRY_*` settings; a task overrides any part with
`@task(..., retry_policy=RetryPolicy(max_retries=8))`. The wait doubles from
`backoff_base` up to `backoff_cap`; jitter spreads it over [delay/2, delay] so
tasks that failed together do not all come back at the same instant.
"""

import builtins
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from kombu.utils.imports import symbol_by_name

from backend.core.conf import Settings


def backoff_delay(
    retries: int, *, base: float, cap: float, jitter: bool, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number `retries + 1`: base * 2**retries, capped, optionally jittered."""
    delay = min(cap, base * 2 ** min(retries, 62))
    return delay / 2 + delay / 2 * rand() if jitter else delay


@cache
def exception_class(name: str) -> type[BaseException]:
    """`ConnectionError` (a builtin) or a dotted path such as `psycopg.OperationalError`."""
    found = getattr(builtins, name, None) if '.' not in name else symbol_by_name(name)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ValueError(f'{name!r} is not an exception class')
    return found


@dataclass(frozen=True)
class RetryPolicy:
    """A task's retry rules; a field left as None takes the setting's value."""

    retry_on: tuple[type[BaseException], ...] | None = None
    max_retries: int | None = None
    backoff_base: float | None = None
    backoff_cap: float | None = None
    jitter: bool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> 'RetryPolicy':
        return cls(
            retry_on=tuple(exception_class(name) for name in settings.retry_on_names),
            max_retries=settings.TASK_RETRY_MAX,
            backoff_base=settings.TASK_RETRY_BACKOFF_BASE,
            backoff_cap=settings.TASK_RETRY_BACKOFF_CAP,
            jitter=settings.TASK_RETRY_JITTER,
        )

    def over(self, defaults: 'RetryPolicy') -> 'RetryPolicy':
        """This policy with every unset field taken from `defaults`."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__ if getattr(self, name) is not None}
        return replace(defaults, **fields)

    def retries(self, exc: BaseException) -> bool:
        return isinstance(exc, self.retry_on or ())

    def delay(self, retries: int) -> float:
        assert self.backoff_base is not None and self.backoff_cap is not None
        return backoff_delay(retries, base=self.backoff_base, cap=self.backoff_cap, jitter=bool(self.jitter))
