"""The handler's one clock: every wait, deadline, timestamp and timer reads it.

Lambda runs on ``SystemClock``. Tests install another clock with ``use`` (a virtual one, say, that moves
only when the handler sleeps), so that a ten-minute wait limit or a Lambda deadline is played in
milliseconds, and the emulator can share it. Nothing else in the handler imports ``time`` or
``threading.Timer``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A timer that runs a function once, unless cancelled first (``threading.Timer``'s part the handler uses)."""

    def start(self) -> None: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the handler asks of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations and deadlines."""
        ...

    def time(self) -> float:
        """Seconds since the epoch, for timestamps CloudFormation and Connect also read."""
        ...

    def sleep(self, seconds: float) -> None:
        """Pause this thread."""
        ...

    def timer(self, seconds: float, function: Callable[[], None]) -> Timer:
        """A daemon timer that calls ``function`` after ``seconds``, once started."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def timer(self, seconds: float, function: Callable[[], None]) -> Timer:
        timer = threading.Timer(seconds, function)
        timer.daemon = True
        return timer


_current: Clock = SystemClock()


def use(clock: Clock) -> Clock:
    """Make ``clock`` the handler's clock; returns the one it replaces (to put back)."""
    global _current
    previous, _current = _current, clock
    return previous


def monotonic() -> float:
    """``Clock.monotonic`` of the clock in use."""
    return _current.monotonic()


def now() -> float:
    """``Clock.time`` of the clock in use: seconds since the epoch."""
    return _current.time()


def sleep(seconds: float) -> None:
    """``Clock.sleep`` of the clock in use."""
    _current.sleep(seconds)


def timer(seconds: float, function: Callable[[], None]) -> Timer:
    """``Clock.timer`` of the clock in use."""
    return _current.timer(seconds, function)
