"""Keeps the event loop polling, not sleeping, for a short while after it sent work out.

A server answering one client at a time sleeps in epoll twice per request: waiting for the
model (a stub process's reply), then for the client's next request. On a VM each sleep and
wake-up costs tens of microseconds and starts the next step with cold caches. ``note()``,
called where the server sends something that will be answered soon, keeps the loop going
round for up to ``budget_ns`` (``--busy-poll-microseconds``) with a zero epoll timeout,
yielding the CPU to anything runnable on each pass; every other event is served as usual
meanwhile. Under load the loop never sleeps anyway, so this costs nothing there.

``call_at()`` runs a callback at a deadline close ahead from the same polling passes, to the
microsecond: a sleeping thread or the loop's own timers wake tens of microseconds late
(``scheduling/timer.py`` hands its last stretch to it).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import time
import weakref
from collections.abc import Callable

_now = time.monotonic_ns

#: tritoncore's default budget, in microseconds (2-vCPU VM, HTTP add_sub through the Python
#: backend, A/B against 0: c=1 +37%, c=2 +5%, c=4 +9%; 800 µs did no better).
DEFAULT_US = 120


class LoopPoller:
    """The busy poll of one event loop; ``budget_ns`` 0 turns it off."""

    __slots__ = ("__weakref__", "_due", "_seq", "budget_ns", "deadline", "loop", "passes",
                 "running")

    def __init__(self, loop: asyncio.AbstractEventLoop, budget_ns: int = 0) -> None:
        self.loop = loop
        self.budget_ns = budget_ns
        self.deadline = 0
        self.running = False
        self.passes = 0  # loop passes spent polling (for tests and curiosity)
        self._due: list[tuple[int, int, Callable[[], None]]] = []  # (deadline, seq, callback)
        self._seq = itertools.count()

    def note(self) -> None:
        """Work went out whose answer is due soon: poll until it comes (or the budget ends)."""
        if self.budget_ns:
            self.deadline = _now() + self.budget_ns
            self._start()

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        """``callback()`` from the first polling pass at or after ``deadline_ns``
        (``time.monotonic_ns`` clock), polling until then whatever the budget. On the loop's
        thread, for deadlines close ahead: the loop spins until them."""
        heapq.heappush(self._due, (deadline_ns, next(self._seq), callback))
        self._start()

    def _start(self) -> None:
        if not self.running:
            self.running = True
            self.loop.call_soon(self._poll)

    def _poll(self) -> None:
        now = _now()
        due = self._due
        while due and due[0][0] <= now:
            callback = heapq.heappop(due)[2]
            try:
                callback()
            except Exception as exc:  # noqa: BLE001 - reported as any loop callback's is
                self.loop.call_exception_handler({"message": "a polled callback failed",
                                                  "exception": exc})
        if now < self.deadline or due:
            self.passes += 1
            os.sched_yield()
            self.loop.call_soon(self._poll)
        else:
            self.running = False


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPoller] = \
    weakref.WeakKeyDictionary()


def for_loop(loop: asyncio.AbstractEventLoop) -> LoopPoller:
    """The poller of ``loop`` (off until the server sets its budget)."""
    poller = _POLLERS.get(loop)
    if poller is None:
        poller = _POLLERS[loop] = LoopPoller(loop)
    return poller
