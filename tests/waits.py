"""Waiting for a state, never for a fixed time: a busy machine only makes the wait longer.

Every wait has a generous deadline and fails with what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.05


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = POLL_SECONDS) -> T:
    """``condition()``'s first truthy result, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
