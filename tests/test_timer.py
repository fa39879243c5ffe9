"""PreciseTimer: callbacks on the loop in deadline order, and no thread left when idle; with a
busy-polling loop, the last stretch of each wait polled (on time to microseconds)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from tritoncore import loop_poll
from tritoncore.scheduling import timer


def test_callbacks_run_on_the_loop_in_deadline_order_then_the_thread_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timer, "IDLE_S", 0.05)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        precise = timer.PreciseTimer(loop)
        fired: list[tuple[str, bool, bool]] = []
        done = asyncio.Event()
        start = time.monotonic_ns()

        def note(name: str) -> None:
            on_loop = threading.current_thread() is threading.main_thread()
            fired.append((name, on_loop, time.monotonic_ns() >= start + deadlines[name]))
            if len(fired) == len(deadlines):
                done.set()

        deadlines = {"c": 3_000_000, "a": 500_000, "b": 1_500_000}
        for name, after in deadlines.items():
            precise.call_at(start + after, lambda n=name: note(n))
        await asyncio.wait_for(done.wait(), 5)
        assert fired == [("a", True, True), ("b", True, True), ("c", True, True)]
        for _ in range(100):  # idle: the thread ends on its own
            if precise._thread is None:
                break
            await asyncio.sleep(0.01)
        assert precise._thread is None
        precise.call_at(time.monotonic_ns(), done.clear)  # and starts again when needed
        await asyncio.sleep(0.05)
        assert not done.is_set()

    asyncio.run(go())


def test_with_a_busy_polling_loop_the_poll_waits_out_the_last_stretch() -> None:
    async def go() -> tuple[list[tuple[str, bool]], bool, list[int]]:
        loop = asyncio.get_running_loop()
        loop_poll.for_loop(loop).budget_ns = 100_000
        precise = timer.PreciseTimer(loop)
        fired: list[tuple[str, bool]] = []
        late: list[int] = []
        start = time.monotonic_ns()

        def note(name: str, deadline: int) -> None:
            late.append(time.monotonic_ns() - deadline)
            fired.append((name, threading.current_thread() is threading.main_thread()))

        near = start + timer.LEAD_NS // 2  # within the lead: polled for at once, no thread
        precise.call_at(near, lambda: note("near", near))
        no_thread = precise._thread is None
        far = start + 3 * timer.LEAD_NS  # the thread wakes the poll LEAD_NS before it
        precise.call_at(far, lambda: note("far", far))
        await asyncio.sleep(0.01)
        return fired, no_thread, late

    fired, no_thread, late = asyncio.run(go())
    assert fired == [("near", True), ("far", True)]
    assert no_thread
    assert min(late) >= 0  # never early
