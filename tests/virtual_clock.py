"""The tests' clock: virtual time, which moves only when someone waits.

A handler waits for most of a test's run: DescribePhoneNumber polls every 0.5 s, retries back off,
a ten-second wait limit or a fourteen-second Lambda budget runs out, a call hangs until botocore's
read timeout. On this clock each such wait moves the clock forward at once instead of passing, so a
test plays them in milliseconds, in the same order as on the real clock. Work takes no time on it,
so a loaded machine cannot push a run past a deadline that it would meet on a quiet one.

Timers (the handler's watchdog) fire when a wait moves the clock past them: each runs in its own
thread, as ``threading.Timer`` does, and the wait lets it finish before going on, as it would
finish during a real wait.

The conftest's ``clock`` fixture puts one in the handler's clock seam (``clock.use``), the fake
Lambda context, the emulator and the ResponseURL server. A test about real time, or one whose
handler runs in a process of its own (the local deploy), is marked ``real_clock`` and keeps the
real clock: ``make demo``'s path (tests/test_demo.py) always runs on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connect_phone_number_handler.clock import SystemClock

# How long a wait that passes a timer lets it run (real seconds) before going on. A timer that needs a
# lock the waiting thread holds cannot finish until that thread goes on, so the wait is bounded.
TIMER_RUN_SECONDS = 2.0
# Every wait still yields this long (real seconds), so that other threads run meanwhile, as they would.
YIELD_SECONDS = 0.001


class VirtualTimer:
    """``threading.Timer`` on a VirtualClock: calls ``function`` once the clock passes ``seconds`` from ``start``."""

    def __init__(self, clock: VirtualClock, seconds: float, function: Callable[[], None]) -> None:
        self.clock, self.seconds, self.function = clock, max(0.0, seconds), function
        self.due = float("inf")

    def start(self) -> None:
        """Start counting down (on the virtual clock)."""
        self.clock.add_timer(self)

    def cancel(self) -> None:
        """Stop the timer if it has not fired yet."""
        self.clock.remove_timer(self)


class VirtualClock:
    """The handler's Clock (connect_phone_number_handler.clock) for tests: it starts at the real time and moves only by waits."""

    def __init__(self) -> None:
        # Whole seconds: deadlines are sums of whole-second offsets, so the tests' bounds compare exactly (a fractional
        # start made `now + 120 - 13 - 10 - now` come out at 97.00000000000182 about once in a thousand runs).
        self._start_monotonic, self._start_time = float(int(time.monotonic())), float(int(time.time()))
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self._timers: list[VirtualTimer] = []

    @property
    def elapsed(self) -> float:
        """Seconds the clock has moved since it was made."""
        return self._elapsed

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        return self._start_monotonic + self._elapsed

    def time(self) -> float:
        """Seconds since the epoch."""
        return self._start_time + self._elapsed

    def sleep(self, seconds: float) -> None:
        """Move ``seconds`` ahead (running the timers passed on the way), and yield briefly to other threads."""
        self.advance(seconds)
        time.sleep(YIELD_SECONDS)

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead: a wait, or a call that hangs that long.

        Each timer passed fires at its own time, in order, and runs before the clock goes on past it.
        """
        with self._lock:
            target = self._elapsed + max(0.0, seconds)
        while True:
            with self._lock:
                due = [t for t in self._timers if t.due <= target]
                passed = min(due, key=lambda t: t.due) if due else None
                if passed is not None:
                    self._timers.remove(passed)
                self._elapsed = max(self._elapsed, passed.due if passed else target)
            if passed is None:
                return
            fired = threading.Thread(target=passed.function, name="virtual-timer", daemon=True)
            fired.start()
            fired.join(TIMER_RUN_SECONDS)

    def timer(self, seconds: float, function: Callable[[], None]) -> VirtualTimer:
        """A timer on this clock (not started)."""
        return VirtualTimer(self, seconds, function)

    def add_timer(self, timer: VirtualTimer) -> None:
        """Start ``timer``: it fires once the clock passes its ``seconds`` from now."""
        with self._lock:
            timer.due = self._elapsed + timer.seconds
            self._timers.append(timer)

    def remove_timer(self, timer: VirtualTimer) -> None:
        """Cancel ``timer`` if it is still pending."""
        with self._lock:
            if timer in self._timers:
                self._timers.remove(timer)

    def close(self) -> None:
        """Cancel every timer still pending: the test is over (as Lambda freezes a finished run)."""
        with self._lock:
            self._timers.clear()


class RealClock(SystemClock):
    """The real clock, with VirtualClock's test methods: ``advance`` really waits."""

    elapsed = 0.0

    def advance(self, seconds: float) -> None:
        """Wait ``seconds``."""
        time.sleep(max(0.0, seconds))

    def close(self) -> None:
        """Nothing to cancel: real timers are threading.Timer."""


#: What a test's ``clock`` fixture gives: virtual unless the test is marked ``real_clock``.
TestClock = VirtualClock | RealClock
