"""A stub that answered its instance's only batch polls briefly for the next one before it
sleeps (``stub-busy-poll-microseconds``): the channel's poll, and when the server asks for it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_python_backend import out, repo, req, run, serve  # noqa: F401 - repo is a fixture
from tritoncore_python.process import StubProcess
from tritoncore_python.stub.channel import BlockingChannel, encode


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


def record_executes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    real = StubProcess.submit

    def submit(self: StubProcess, message: dict[str, Any], waiter: Any) -> None:
        sent.append(message)
        real(self, message, waiter)

    monkeypatch.setattr(StubProcess, "submit", submit)
    return sent


def test_only_a_batch_alone_on_its_instance_asks_for_polling(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    sent = record_executes(monkeypatch)

    async def go() -> None:
        async with serve(repo, "add_sub") as server:
            a = np.arange(4, dtype=np.float32)
            r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert out(r, "OUTPUT0").tolist() == (a * 2).tolist()
            assert sent[-1]["spin"] == 400  # the default
            sent.clear()
            both = await asyncio.gather(*(server.infer(req("add_sub", INPUT0=a + i, INPUT1=a))
                                          for i in range(2)))
            assert [out(r, "OUTPUT1").tolist() for r in both] == [[0.0] * 4, [1.0] * 4]
            assert [m.get("spin") for m in sent] == [400, None]  # the second was not alone

    run(go())


def test_polling_can_be_turned_off(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    sent = record_executes(monkeypatch)

    async def go() -> None:
        async with serve(repo, "add_sub", backend_config={
                "python": {"stub-busy-poll-microseconds": "0"}}) as server:
            a = np.ones(4, dtype=np.float32)
            r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert out(r, "OUTPUT0").tolist() == [2.0] * 4
            assert sent and "spin" not in sent[-1]

    run(go())


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
