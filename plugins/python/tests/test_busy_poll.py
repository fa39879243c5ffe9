"""A stub that answered a batch polls briefly for the next one before it sleeps
(``stub-busy-poll-microseconds``) while the next one mostly comes within that time: the
channel's poll, the gate that decides, and a real stub's CPU with and without."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_python_backend import (  # noqa: F401 - repo is a fixture
    out,
    repo,
    req,
    run,
    serve,
    stub_children,
)
from tritoncore_python.stub.channel import BlockingChannel, PollGate, encode


def receive_after(delay_s: float, spin_ns: int) -> tuple[dict[str, Any] | None, float]:
    """(the message, this thread's CPU seconds) of a recv whose message comes ``delay_s``
    after it began."""
    ours, theirs = socket.socketpair()
    try:
        channel = BlockingChannel(ours)
        sender = threading.Timer(delay_s, lambda: theirs.sendall(encode({"op": "x", "n": 7})))
        sender.start()
        began = time.thread_time()
        msg = channel.recv(spin_ns=spin_ns)
        cpu = time.thread_time() - began
        sender.join()
        return msg, cpu
    finally:
        ours.close()
        theirs.close()


def test_polling_catches_the_message_awake() -> None:
    msg, cpu = receive_after(0.03, spin_ns=500_000_000)
    assert msg == {"op": "x", "n": 7}
    assert cpu >= 0.005  # it polled instead of sleeping
    msg, cpu = receive_after(0.03, spin_ns=0)
    assert msg == {"op": "x", "n": 7}
    assert cpu < 0.005  # it slept


def test_polling_gives_up_then_sleeps() -> None:
    msg, cpu = receive_after(0.15, spin_ns=2_000_000)
    assert msg == {"op": "x", "n": 7}
    assert cpu < 0.05  # 2 ms of polling, then asleep for the rest


@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=40))
def test_the_gate_opens_while_half_the_last_eight_gaps_were_within_the_budget(
        gaps: list[int]) -> None:
    gate = PollGate(1_000)
    assert gate.budget() == 1_000  # polling until gaps say otherwise
    for i, gap in enumerate(gaps):
        gate.record(gap)
        last = [g <= 1_000 for g in ([0] * 8 + gaps[:i + 1])[-8:]]
        assert gate.budget() == (1_000 if sum(last) >= 4 else 0)


def test_a_budget_of_zero_never_polls() -> None:
    gate = PollGate(0)
    for gap in (0, 0, 5):
        gate.record(gap)
        assert gate.budget() == 0


def stub_cpu_over_spaced_requests(models: Path, poll_us: str, apart_s: float = 0.01,
                                  rounds: int = 1) -> list[float]:
    """CPU seconds the stub's main thread spends over 20 requests ``apart_s`` apart, for each
    of ``rounds`` rounds of them (one stub throughout)."""
    async def go() -> list[float]:
        async with serve(models, "add_sub", backend_config={
                "python": {"stub-busy-poll-microseconds": poll_us}}) as server:
            a = np.arange(4, dtype=np.float32)
            (stub,) = stub_children()
            spent = []
            for _ in range(rounds):
                before = on_cpu(stub)
                for _ in range(20):
                    r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
                    assert out(r, "OUTPUT0").tolist() == (a * 2).tolist()
                    await asyncio.sleep(apart_s)
                spent.append(on_cpu(stub) - before)
            return spent

    return list(run(go()))


def on_cpu(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def test_a_stub_polls_while_requests_come_within_the_budget(repo: Path) -> None:  # noqa: F811
    (polled,) = stub_cpu_over_spaced_requests(repo, "30000", apart_s=0.002)
    assert polled >= 0.02  # 20 polls, each until the next request (2 ms and a round trip)


def test_a_stub_stops_polling_when_requests_come_later_or_when_told(
        repo: Path, tmp_path: Path) -> None:  # noqa: F811
    gave_up, closed = stub_cpu_over_spaced_requests(repo, "6000", apart_s=0.02, rounds=2)
    other = tmp_path / "other"
    other.mkdir()
    (idle,) = stub_cpu_over_spaced_requests(other, "0", apart_s=0.02)
    # 20 ms apart: the first five polls run their 6 ms to the end (30 ms), then the gate
    # closes and stays closed for the second round (polling after each of the 19 would be
    # 114 ms more than that round's CPU)
    assert 0.018 <= gave_up - closed < 0.07
    assert closed < 0.02 and idle < 0.02


@pytest.mark.parametrize(("value", "message"), [
    ("-5", "stub-busy-poll-microseconds must be >= 0, got -5"),
    ("soon", "stub-busy-poll-microseconds: expected an integer, got 'soon'"),
])
def test_a_bad_poll_setting_is_a_clear_error(repo: Path, value: str,  # noqa: F811
                                             message: str) -> None:
    async def go() -> None:
        async with serve(repo, "add_sub", backend_config={
                "python": {"stub-busy-poll-microseconds": value}}) as server:
            assert message in server.repository_index()[0]["reason"]

    run(go())


@pytest.mark.parametrize("queued", [False, True])
def test_a_bls_reply_is_polled_for_only_while_no_work_waits(queued: bool) -> None:
    from test_stub_outputs import stub_runtime

    with stub_runtime() as (rt, theirs):
        rt.reply_poll_ns = 500_000_000
        if queued:  # an execute already waits for this stub: the CPUs are busy elsewhere
            rt.backlog.append({"op": "execute"})
        slot: list[Any] = [threading.Event(), None]
        rt._waiting[1] = slot
        reply = threading.Timer(0.03, lambda: theirs.sendall(encode({"op": "reply", "call": 1})))
        reply.start()
        began = time.thread_time()
        rt.wait(slot[0])
        cpu = time.thread_time() - began
        reply.join()
        assert slot[1] == {"op": "reply", "call": 1}
        assert (cpu < 0.005) if queued else (cpu >= 0.005)


@pytest.mark.parametrize("polling", [True, False])
def test_told_a_batch_is_coming_an_idle_stub_polls_until_it_comes(polling: bool) -> None:
    from test_stub_outputs import stub_runtime

    with stub_runtime() as (rt, theirs):
        rt.reply_poll_ns = 400_000 if polling else 0  # busy poll on / off
        theirs.sendall(encode({"op": "expect", "at": time.monotonic_ns() + 30_000_000}))
        execute = threading.Timer(0.03, lambda: theirs.sendall(encode({"op": "execute"})))
        execute.start()
        began = time.thread_time()
        msg = rt.next_operation()
        cpu = time.thread_time() - began
        execute.join()
        assert msg == {"op": "execute"}  # the notice is no operation of its own
        assert (cpu >= 0.01) if polling else (cpu < 0.005)


def test_expect_wakes_only_an_idle_stub_for_a_batch_due_soon_with_a_stand_in_stub() -> None:
    """Which notices the server sends (a stand-in records them: the real stub's side is the
    test above)."""
    from types import SimpleNamespace

    from tritoncore_python.backend import EXPECT_WITHIN_NS, PythonBackend, PythonInstance, Settings

    sent: list[dict[str, Any]] = []
    backend = PythonBackend()
    ctx = SimpleNamespace(model=SimpleNamespace(name="m", decoupled=False), name="m_0")
    instance = PythonInstance(ctx, backend, "python3")  # type: ignore[arg-type]
    instance.stub = SimpleNamespace(dead=None, send=sent.append)  # type: ignore[assignment]
    soon = time.monotonic_ns() + EXPECT_WITHIN_NS // 2
    instance.expect(soon)
    assert sent == [{"op": "expect", "at": soon}]
    instance.open[1] = None  # type: ignore[assignment] # a batch in hand: awake already
    instance.expect(soon)
    instance.open.clear()
    instance.expect(time.monotonic_ns() + 10 * EXPECT_WITHIN_NS)  # too far off to spin for
    backend.settings = Settings({"stub-busy-poll-microseconds": "0"})  # polling off
    instance.expect(soon)
    assert len(sent) == 1


def test_a_batch_held_for_the_queue_delay_reaches_an_awoken_stub_intact(
        repo: Path) -> None:  # noqa: F811
    """The whole path with the stub woken ahead (1 ms delay: the notice is sent): requests
    that arrive together run as one batch, each gets its own rows; one at a time, each is
    its own batch after the delay."""
    async def go() -> None:
        async with serve(repo, "halve") as server:
            xs = [np.array([[i, i + 1, i + 2]], np.float32) for i in range(4)]
            rs = await asyncio.gather(*(server.infer(req("halve", X=x)) for x in xs))
            for x, r in zip(xs, rs):
                assert out(r, "Y").tolist() == (x * 0.5).tolist()
            stats = server.statistics("halve")["model_stats"][0]
            assert (stats["inference_count"], stats["execution_count"]) == (4, 1)
            for i in range(3):
                x = np.array([[i, 2 * i, 3 * i]], np.float32)
                began = time.monotonic()
                r = await server.infer(req("halve", X=x))
                assert time.monotonic() - began >= 0.001  # held for the queue delay
                assert out(r, "Y").tolist() == (x * 0.5).tolist()
            stats = server.statistics("halve")["model_stats"][0]
            assert (stats["inference_count"], stats["execution_count"]) == (7, 4)

    run(go())
