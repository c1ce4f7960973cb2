"""Waiting in tests for what another thread or process must do: always with a deadline.

A wait without one turns a lost wake-up into a run that hangs until CI's own limit, with
nothing said about what never came; this one fails the test and names it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 30.0  # seconds: generous for a busy 2-core machine, short against CI's limit


def eventually(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float = DEADLINE,
    pause: float = 0.01,
    failure: Callable[[], BaseException | None] = lambda: None,
) -> T:
    """The first truthy value of `probe()`; fails naming `what` after `timeout` seconds, or at
    once when `failure()` returns the error of the thread or process that was to do it."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        error = failure()
        if error is not None:
            raise AssertionError(f"waited for {what}; it failed: {error!r}") from error
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; it did not happen")
        time.sleep(pause)


def join(thread: threading.Thread, what: str, timeout: float = DEADLINE) -> None:
    """Join `thread`, failing naming `what` if it is still running after `timeout` seconds."""
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"waited {timeout:g} s for {what} ({thread.name}) to finish")


class Recorded(threading.Thread):
    """A thread that keeps the error its target raised, for the test to name it."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(target=self._run_recorded, name=name, daemon=True)
        self._target_call = target
        self.error: BaseException | None = None

    def _run_recorded(self) -> None:
        try:
            self._target_call()
        except BaseException as error:  # read by the test, which names it
            self.error = error

    def finish(self, timeout: float = DEADLINE) -> None:
        """Join it within `timeout` seconds and raise what it raised."""
        join(self, self.name, timeout)
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
