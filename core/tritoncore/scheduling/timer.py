"""Wake-ups at sub-millisecond deadlines for an event loop whose timers tick in whole
milliseconds (uvloop rounds a 0.5 ms timeout down to 0 and 0.9 ms up to about 1.1 ms).

A daemon thread sleeps until the earliest deadline (a condition wait, with the GIL released)
and hands the callback to the loop; it ends after a second with nothing due and is started
again by the next ``call_at``. Polling the loop instead kept the GIL busy and starved threads
that need it, such as grpc.aio's poller. The thread and the loop's wake-up after it are late
by ~100 µs (median, 500 µs deadlines, 2-vCPU VM): where the server busy-polls its loop
(``--busy-poll-microseconds``), the thread wakes ``LEAD_NS`` early and hands the rest of the
wait to the loop's poll, which is on time to a few microseconds.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable

from tritoncore import loop_poll

IDLE_S = 1.0  # the thread ends after this long with nothing due
LEAD_NS = 200_000  # with a busy-polling loop: how early the thread hands a deadline over


class PreciseTimer:
    """``call_at(deadline_ns, callback)``: ``callback()`` on the loop at ``deadline_ns``
    (``time.monotonic_ns`` clock), give or take the thread's wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._poller = loop_poll.for_loop(loop)
        self._due: list[tuple[int, int, Callable[[], None]]] = []  # (deadline, seq, callback)
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        """Call on the loop's thread."""
        if self._poller.budget_ns:  # the thread only wakes the loop's poll, a little early
            poll_at = deadline_ns - LEAD_NS
            polled = functools.partial(self._poller.call_at, deadline_ns, callback)
            if poll_at <= time.monotonic_ns():
                polled()
                return
            deadline_ns, callback = poll_at, polled
        with self._changed:
            heapq.heappush(self._due, (deadline_ns, next(self._seq), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="precise-timer",
                                                daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._due:
                    if not self._changed.wait(IDLE_S) and not self._due:
                        self._thread = None
                        return
                    continue
                wait_ns = self._due[0][0] - time.monotonic_ns()
                if wait_ns > 0:
                    self._changed.wait(wait_ns / 1e9)
                    continue
                _, _, callback = heapq.heappop(self._due)
                try:
                    self.loop.call_soon_threadsafe(callback)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    self._due.clear()
