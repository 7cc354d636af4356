"""Waiting on conditions instead of sleeping."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar('T')


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = 'condition'
) -> T:
    """Poll `condition` until it returns something truthy; fail the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(interval)
