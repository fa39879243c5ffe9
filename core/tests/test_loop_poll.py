"""The event loop's busy poll (``--busy-poll-microseconds``): after ``note()`` the loop goes
round without sleeping until the budget ends, serving everything else meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest

from tritoncore.loop_poll import LoopPoller, for_loop


def run(coro_fn):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_fn())


def test_off_by_default_and_with_budget_zero() -> None:
    async def main() -> LoopPoller:
        poller = for_loop(asyncio.get_running_loop())
        assert poller.budget_ns == 0
        poller.note()
        await asyncio.sleep(0.005)
        return poller

    poller = run(main)
    assert (poller.running, poller.passes) == (False, 0)


def test_polls_until_the_budget_ends_then_sleeps_again() -> None:
    async def main() -> tuple[int, int, bool]:
        poller = LoopPoller(asyncio.get_running_loop(), budget_ns=3_000_000)
        poller.note()
        await asyncio.sleep(0.001)
        during = poller.passes
        await asyncio.sleep(0.02)  # the budget (3 ms) is long over
        after = poller.passes
        await asyncio.sleep(0.01)
        return during, after, poller.running and poller.passes == after

    during, after, still = run(main)
    assert during > 5  # many passes within the first millisecond: the loop did not sleep
    assert after >= during
    assert not still


def test_another_note_extends_the_budget() -> None:
    async def main() -> tuple[int, int]:
        poller = LoopPoller(asyncio.get_running_loop(), budget_ns=2_000_000)
        poller.note()
        first = poller.deadline
        await asyncio.sleep(0.001)
        poller.note()
        return first, poller.deadline

    first, second = run(main)
    assert second >= first + 900_000


def test_other_events_are_served_on_time_while_it_polls() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        poller = LoopPoller(loop, budget_ns=50_000_000)
        poller.note()
        fired = loop.create_future()
        start = time.monotonic()
        loop.call_later(0.005, fired.set_result, None)
        await fired
        return time.monotonic() - start

    assert run(main) == pytest.approx(0.005, abs=0.004)


def test_the_server_sets_the_budget_from_its_option() -> None:
    from tritoncore.options import ServerOptions
    from tritoncore.server import Server

    async def main() -> int:
        server = Server(ServerOptions(busy_poll_microseconds=250, allow_http=False,
                                      allow_grpc=False, allow_metrics=False), gpus=0)
        await server.start()
        try:
            return for_loop(asyncio.get_running_loop()).budget_ns
        finally:
            await server.stop()

    assert run(main) == 250_000


def test_call_at_runs_callbacks_in_deadline_order_not_before_their_deadlines() -> None:
    async def main() -> tuple[list[tuple[str, bool]], bool]:
        poller = LoopPoller(asyncio.get_running_loop())  # budget 0: call_at polls anyway
        start = time.monotonic_ns()
        fired: list[tuple[str, bool]] = []
        deadlines = {"c": 3_000_000, "a": 1_000_000, "b": 2_000_000}
        for name, after in deadlines.items():
            poller.call_at(start + after, lambda n=name, d=start + after: fired.append(
                (n, time.monotonic_ns() >= d)))
        await asyncio.sleep(0.01)
        return fired, poller.running

    fired, still = run(main)
    assert fired == [("a", True), ("b", True), ("c", True)]
    assert not still  # nothing left due and no budget: the loop sleeps again


def test_a_failing_callback_is_reported_and_the_rest_still_run() -> None:
    async def main() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        reported: list[str] = []
        loop.set_exception_handler(lambda _, ctx: reported.append(str(ctx["exception"])))
        poller = LoopPoller(loop)
        fired: list[str] = []
        now = time.monotonic_ns()

        def boom() -> None:
            raise ValueError("boom")

        poller.call_at(now, boom)
        poller.call_at(now + 500_000, lambda: fired.append("after"))
        await asyncio.sleep(0.005)
        return fired, reported

    assert run(main) == (["after"], ["boom"])
