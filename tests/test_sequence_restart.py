"""A sequence restarted with the same correlation ID before its END request ran.

Clients that do not wait for END's response (async clients, gRPC streams, perf_analyzer with a
small ``--sequence-id-range``) queue the next START for the same ID right behind it. The new
sequence must run after the old one, in the same slot, from a fresh state; it used to replace
the old sequence's bookkeeping and leave both waiting forever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import testing_backend
from conftest import make_server, run
from test_sequence import request, seq_model, value


def test_restart_queued_behind_end_runs_in_order_with_fresh_state(repo: Path) -> None:
    seq_model(repo, max_batch_size=2)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            reqs = [request("acc", 1, 7, start=True), request("acc", 2, 7, end=True),
                    request("acc", 10, 7, start=True), request("acc", 20, 7),
                    request("acc", 30, 7, end=True), request("acc", 5, 7, start=True, end=True)]
            tasks = [asyncio.create_task(server.infer(r)) for r in reqs]
            done = await asyncio.wait_for(asyncio.gather(*tasks), 10)
            assert [value(r) for r in done] == [1, 3, 10, 30, 60, 5]
            seen = [e[3]["STATE_IN"] for e in testing_backend.EVENTS if e[0] == "sequence"]
            assert seen == [0.0, 1.0, 0.0, 10.0, 30.0, 0.0]
            # the slot was given back: another sequence gets it
            other = await asyncio.wait_for(
                server.infer(request("acc", 4, 8, start=True, end=True)), 5)
            assert value(other) == 4
            assert server.model("acc").scheduler.pending() == 0
        finally:
            await server.stop()

    run(go)
