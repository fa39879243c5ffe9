"""What a FIFO model's callback-form instance answers, and what reaches the client: exact
outputs and statistics, requests beyond the instance's pipeline depth queued in order, a
final response through the sender, bad answers as errors. Driven through the in-process
server with the test backend's hand-answered instance (``mode: hand``)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import testing_backend
from conftest import make_server, params, run, write_model
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.server import Server
from tritoncore.tensor import Tensor

HELD = testing_backend.HELD


def request(value: float, rid: str = "", outputs: list[str] | None = None) -> InferenceRequest:
    array = np.full((1, 2), value, dtype=np.float32)
    return InferenceRequest("m", {"INPUT0": Tensor.from_numpy("INPUT0", array)}, id=rid,
                            requested_outputs=outputs)


def doubled(r: InferenceRequest, *extra: str) -> InferenceResponse:
    x = r.inputs["INPUT0"].as_numpy()
    return InferenceResponse(outputs=[Tensor.from_numpy("OUTPUT0", x * 2)] +
                             [Tensor.from_numpy(name, x) for name in extra])


def answer_oldest(*extra: str) -> None:
    requests, done = HELD.pop(0)
    done([doubled(r, *extra) for r in requests], None)


async def started(server: Server,
                  *requests: InferenceRequest) -> list[asyncio.Task[InferenceResponse]]:
    tasks = [asyncio.create_task(server.infer(r)) for r in requests]
    await asyncio.sleep(0)  # each task ran up to its first wait: submitted
    return tasks


def stats(server: Server) -> dict[str, Any]:
    return server.statistics("m")["model_stats"][0]


def served(repo: Path, body: Callable[[Server], Awaitable[None]]) -> None:
    """``body`` against a server with model "m": the hand-answered instance, depth 2."""
    write_model(repo, "m", params(mode="hand", depth="2"))

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            await body(server)
        finally:
            await server.stop()

    run(go)


def test_one_request_answered_and_counted(repo: Path) -> None:
    async def body(server: Server) -> None:
        [task] = await started(server, request(3.0, "a"))
        assert [[r.id for r in batch] for batch, _ in HELD] == [["a"]]
        answer_oldest()
        response = await task
        assert response.final and response.error is None
        assert [(t.name, t.as_numpy().tolist()) for t in response.outputs] == [
            ("OUTPUT0", [[6.0, 6.0]])]
        s = stats(server)
        assert (s["inference_count"], s["execution_count"]) == (1, 1)
        counts = {k: v["count"] for k, v in s["inference_stats"].items()}
        assert counts == {"success": 1, "fail": 0, "queue": 1, "compute_input": 1,
                          "compute_infer": 1, "compute_output": 1, "cache_hit": 0,
                          "cache_miss": 0}
        assert [(b["batch_size"], b["compute_infer"]["count"]) for b in s["batch_stats"]] == [
            (1, 1)]

    served(repo, body)


def test_requests_beyond_the_instances_room_queue_and_keep_their_order(repo: Path) -> None:
    async def body(server: Server) -> None:
        tasks = await started(server, *(request(float(i), str(i)) for i in range(5)))
        assert [[r.id for r in batch] for batch, _ in HELD] == [["0"], ["1"]]  # depth 2
        answer_oldest()
        await asyncio.sleep(0)
        assert [[r.id for r in batch] for batch, _ in HELD] == [["1"], ["2"]]
        while HELD:
            answer_oldest()
            await asyncio.sleep(0)
        results = await asyncio.gather(*tasks)
        assert [r.outputs[0].as_numpy().tolist() for r in results] == [
            [[2.0 * i] * 2] for i in range(5)]
        assert stats(server)["inference_count"] == 5

    served(repo, body)


def test_only_the_requested_outputs_reach_the_client(repo: Path) -> None:
    async def body(server: Server) -> None:
        [task] = await started(server, request(1.5, outputs=["OUTPUT0"]))
        answer_oldest("EXTRA")
        assert [t.name for t in (await task).outputs] == ["OUTPUT0"]

    served(repo, body)


def test_a_final_response_sent_through_the_sender_is_the_only_one(repo: Path) -> None:
    async def body(server: Server) -> None:
        [task] = await started(server, request(2.0))
        [(requests, done)] = HELD
        requests[0].sender.send(doubled(requests[0]), final=True)  # type: ignore[union-attr]
        done(None, None)  # the batch ends without responses of its own
        response = await task
        assert response.outputs[0].as_numpy().tolist() == [[4.0, 4.0]]
        counts = {k: v["count"] for k, v in stats(server)["inference_stats"].items()}
        assert (counts["success"], counts["fail"], counts["compute_infer"]) == (1, 0, 1)

    served(repo, body)


@pytest.mark.parametrize("outcome", ["two responses", "error", "not a response"])
def test_a_bad_answer_fails_the_request_and_the_model_serves_on(repo: Path, outcome: str) -> None:
    async def body(server: Server) -> None:
        [task] = await started(server, request(1.0))
        [(requests, done)] = HELD
        HELD.clear()
        if outcome == "two responses":
            done([doubled(requests[0]), doubled(requests[0])], None)
            message = ("model 'm' instance 'm_0': execute returned 2 item(s) for 1 request(s); "
                       "it must return one InferenceResponse per request, in order")
            code = ErrorCode.INTERNAL
        elif outcome == "error":
            done(None, TritonError(ErrorCode.UNAVAILABLE, "the stub is gone"))
            message, code = "the stub is gone", ErrorCode.UNAVAILABLE
        else:
            done(["no"], None)  # type: ignore[list-item]
            message = ("model 'm' instance 'm_0': execute returned 1 item(s) for 1 request(s); "
                       "it must return one InferenceResponse per request, in order")
            code = ErrorCode.INTERNAL
        with pytest.raises(TritonError) as info:
            await task
        assert (info.value.code, info.value.message) == (code, message)
        counts = {k: v["count"] for k, v in stats(server)["inference_stats"].items()}
        assert (counts["success"], counts["fail"]) == (0, 1)
        [task] = await started(server, request(4.0))
        answer_oldest()
        assert (await task).outputs[0].as_numpy().tolist() == [[8.0, 8.0]]

    served(repo, body)


def test_a_cancelled_request_never_reaches_the_instance(repo: Path) -> None:
    async def body(server: Server) -> None:
        r = request(1.0)
        r.cancelled.set()
        with pytest.raises(TritonError) as info:
            await server.infer(r)
        assert info.value.code is ErrorCode.CANCELLED
        assert HELD == []

    served(repo, body)


def test_finished_requests_leave_nothing_to_the_collector(repo: Path) -> None:
    async def body(server: Server) -> None:
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for i in range(3):
                [task] = await started(server, request(float(i)))
                answer_oldest()
                await task
            del task
            gc.collect()
            kinds = {type(o).__name__ for o in gc.garbage}
            assert not kinds & {"InferenceRequest", "ResponseSender", "Tensor"}, sorted(kinds)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    served(repo, body)
