"""Retry backoff maths and policy resolution (no I/O)."""

import psycopg
import pytest

from backend.app.task.utils.retry import RetryPolicy, backoff_delay, exception_class
from backend.core.conf import Settings


def test_backoff_delay_doubles_from_the_base_without_jitter() -> None:
    delays = [backoff_delay(n, base=60, cap=3600, jitter=False) for n in range(4)]
    assert delays == [60, 120, 240, 480]


def test_backoff_delay_stops_at_the_cap() -> None:
    assert backoff_delay(10, base=60, cap=3600, jitter=False) == 3600
    assert backoff_delay(10_000, base=60, cap=3600, jitter=False) == 3600


@pytest.mark.parametrize('rand', [0.0, 0.25, 0.999])
def test_backoff_delay_with_jitter_stays_between_half_and_the_full_delay(rand: float) -> None:
    delay = backoff_delay(2, base=60, cap=3600, jitter=True, rand=lambda: rand)
    assert 120 <= delay <= 240
    assert delay == 120 + 120 * rand


def test_policy_from_settings_has_the_documented_defaults() -> None:
    policy = RetryPolicy.from_settings(Settings(_env_file=None))
    assert (policy.max_retries, policy.backoff_base, policy.backoff_cap, policy.jitter) == (4, 60, 3600, True)
    assert policy.retries(ConnectionError()) and policy.retries(psycopg.OperationalError())
    assert not policy.retries(KeyError('x'))


def test_policy_fields_left_unset_come_from_the_defaults() -> None:
    defaults = RetryPolicy.from_settings(Settings(_env_file=None, TASK_RETRY_JITTER=False))
    policy = RetryPolicy(max_retries=1, retry_on=(KeyError,)).over(defaults)
    assert (policy.max_retries, policy.backoff_base, policy.jitter) == (1, 60, False)
    assert policy.retries(KeyError('x')) and not policy.retries(ConnectionError())
    assert [policy.delay(n) for n in range(4)] == [60, 120, 240, 480]


def test_exception_class_resolves_builtins_and_dotted_names() -> None:
    assert exception_class('TimeoutError') is TimeoutError
    assert exception_class('psycopg.OperationalError') is psycopg.OperationalError
    with pytest.raises(ValueError, match='is not an exception class'):
        exception_class('os.path')
