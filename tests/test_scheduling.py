"""Dynamic batching end to end through the in-process server and the test backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import testing_backend
from conftest import make_server, params, run, write_model
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor


def request(model: str, value: float, rid: str = "", priority: int = 0,
            timeout_us: int = 0, width: int = 1) -> InferenceRequest:
    array = np.full((1, width), value, dtype=np.float32)
    return InferenceRequest(model, {"INPUT0": Tensor.from_numpy("INPUT0", array)}, id=rid,
                            priority=priority, timeout_us=timeout_us)


def executions(model: str) -> list[list[str]]:
    return [e[7] for e in testing_backend.EVENTS if e[0] == "execute" and e[1] == model]


def test_concurrent_requests_are_batched(repo: Path) -> None:
    write_model(repo, "m", params(delay_ms="20") + "\ndynamic_batching { max_queue_delay_microseconds: 5000 }")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            results = await asyncio.gather(*(server.infer(request("m", float(i), str(i)))
                                             for i in range(12)))
            assert [r.outputs[0].as_numpy().tolist() for r in results] == [
                [[2.0 * i]] for i in range(12)]
            stats = server.statistics("m")["model_stats"][0]
            assert stats["inference_count"] == 12
            assert stats["execution_count"] < 12
            assert sum(b["batch_size"] * b["compute_infer"]["count"]
                       for b in stats["batch_stats"]) == 12
            assert max(len(ids) for ids in executions("m")) <= 4  # max_batch_size
        finally:
            await server.stop()

    run(go)


def test_preferred_batch_leaves_without_waiting_for_the_delay(repo: Path) -> None:
    write_model(repo, "m", "dynamic_batching { preferred_batch_size: [ 3 ] "
                           "max_queue_delay_microseconds: 30000000 }")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            done = await asyncio.wait_for(asyncio.gather(
                *(server.infer(request("m", 1.0, str(i))) for i in range(3))), timeout=10)
            assert len(done) == 3
            assert executions("m") == [["0", "1", "2"]]
        finally:
            await server.stop()

    run(go)


def test_different_shapes_are_not_batched_together(repo: Path) -> None:
    write_model(repo, "m", "dynamic_batching { max_queue_delay_microseconds: 100000 }")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            out = await asyncio.gather(server.infer(request("m", 1.0, "a", width=2)),
                                       server.infer(request("m", 1.0, "b", width=3)),
                                       server.infer(request("m", 1.0, "c", width=2)))
            assert [r.outputs[0].shape for r in out] == [(1, 2), (1, 3), (1, 2)]
            for ids in executions("m"):
                assert not ("b" in ids and len(ids) > 1)
        finally:
            await server.stop()

    run(go)


def test_priorities_overtake(repo: Path) -> None:
    write_model(repo, "m", params(mode="sleep_input") +
                "\ndynamic_batching { priority_levels: 2 default_priority_level: 2 }",
                max_batch_size=1)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            first = asyncio.create_task(server.infer(request("m", 100.0, "busy")))
            await asyncio.sleep(0.03)  # "busy" occupies the only instance
            lows = [asyncio.create_task(server.infer(request("m", 0.0, f"low{i}")))
                    for i in range(3)]
            await asyncio.sleep(0)
            high = asyncio.create_task(server.infer(request("m", 0.0, "high", priority=1)))
            await asyncio.gather(first, high, *lows)
            order = [ids[0] for ids in executions("m")]
            assert order == ["busy", "high", "low0", "low1", "low2"]
            ok = await server.infer(request("m", 0.0, priority=5))  # default level, as Triton
            assert ok.outputs[0].as_numpy().tolist() == [[0.0]]
        finally:
            await server.stop()

    run(go)


def test_queue_full_is_rejected_and_counted_as_failure(repo: Path) -> None:
    write_model(repo, "m", params(delay_ms="150") +
                "\ndynamic_batching { default_queue_policy { max_queue_size: 1 } }",
                max_batch_size=1)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            running = asyncio.create_task(server.infer(request("m", 1.0)))
            await asyncio.sleep(0.03)
            queued = asyncio.create_task(server.infer(request("m", 2.0)))
            await asyncio.sleep(0)
            with pytest.raises(TritonError) as info:
                await server.infer(request("m", 3.0))
            assert info.value.code is ErrorCode.UNAVAILABLE
            assert "exceeds maximum queue size" in info.value.message
            await asyncio.gather(running, queued)
            stats = server.model("m").stats
            assert stats.requests["fail"].count == 1 and stats.failures["REJECTED"] == 1
            assert stats.requests["success"].count == 2
        finally:
            await server.stop()

    run(go)


def test_queue_timeout_rejects_waiting_request(repo: Path) -> None:
    write_model(repo, "m", params(delay_ms="200") + """
        dynamic_batching { default_queue_policy { default_timeout_microseconds: 50000
                                                  allow_timeout_override: true } }""",
                max_batch_size=1)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            running = asyncio.create_task(server.infer(request("m", 1.0)))
            await asyncio.sleep(0.02)
            patient = asyncio.create_task(server.infer(request("m", 2.0, timeout_us=10_000_000)))
            with pytest.raises(TritonError) as info:
                await server.infer(request("m", 3.0))
            assert info.value.code is ErrorCode.UNAVAILABLE
            assert "timed out after waiting" in info.value.message
            assert (await patient).outputs[0].as_numpy().tolist() == [[4.0]]
            await running
            stats = server.statistics("m")["model_stats"][0]["inference_stats"]
            assert stats["fail"]["count"] == 1 and stats["success"]["count"] == 2
            assert server.model("m").stats.failures["REJECTED"] == 1
        finally:
            await server.stop()

    run(go)


@pytest.mark.parametrize("preserve", [True, False])
def test_preserve_ordering_across_instances(repo: Path, preserve: bool) -> None:
    write_model(repo, "m", params(mode="sleep_input") + f"""
        instance_group [ {{ count: 2 }} ]
        dynamic_batching {{ preserve_ordering: {str(preserve).lower()} }}""", max_batch_size=1)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        finished: list[str] = []

        async def one(value: float, rid: str) -> None:
            await server.infer(request("m", value, rid))
            finished.append(rid)

        try:
            await asyncio.gather(one(200.0, "slow"), one(0.0, "fast"))
        finally:
            await server.stop()
        assert finished == (["slow", "fast"] if preserve else ["fast", "slow"])

    run(go)


def test_warmup_runs_on_every_instance_before_ready(repo: Path) -> None:
    write_model(repo, "warm", """
        instance_group [ { count: 2 } ]
        model_warmup [ { name: "zeros" batch_size: 2 count: 3
                         inputs { key: "INPUT0" value: { data_type: TYPE_FP32 dims: [ 5 ]
                                                         zero_data: true } } } ]""")
    write_model(repo, "cold", params(mode="raise") + """
        model_warmup [ { name: "boom" batch_size: 1
                         inputs { key: "INPUT0" value: { data_type: TYPE_FP32 dims: [ 1 ]
                                                         random_data: true } } } ]""")

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        try:
            runs = [e for e in testing_backend.EVENTS if e[0] == "execute" and e[1] == "warm"]
            assert sorted(e[3] for e in runs) == ["warm_0_0"] * 3 + ["warm_0_1"] * 3
            assert all(e[7] == ["warmup:zeros"] for e in runs)
            stats = server.statistics("warm")["model_stats"][0]
            assert stats["execution_count"] == 0  # warmup is not traffic
            rows = {r["name"]: r for r in server.repository_index()}
            assert rows["warm"]["state"] == "READY"
            assert rows["cold"]["state"] == "UNAVAILABLE"
            assert "warmup 'boom' failed on instance 'cold_0'" in rows["cold"]["reason"]
            assert "ValueError: boom" in rows["cold"]["reason"]
        finally:
            await server.stop()

    run(go)
