"""The sequence batcher: ordering per correlation ID, control inputs, implicit state, slots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import testing_backend
from conftest import make_server, params, run, write_model
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import SEQUENCE_END, SEQUENCE_START, InferenceRequest
from tritoncore.tensor import Tensor

SEQUENCE = """
    sequence_batching {{
      max_sequence_idle_microseconds: {idle}
      control_input [
        {{ name: "START" control [ {{ kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] }} ] }},
        {{ name: "END" control [ {{ kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] }} ] }},
        {{ name: "READY" control [ {{ kind: CONTROL_SEQUENCE_READY bool_false_true: [ false, true ] }} ] }},
        {{ name: "CORRID" control [ {{ kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 }} ] }}
      ]
      state [ {{ input_name: "STATE_IN" output_name: "STATE_OUT" data_type: TYPE_FP32 dims: [ 1 ] }} ]
    }}
    {extra}"""


def seq_model(repo: Path, name: str = "acc", idle: int = 5_000_000, extra: str = "",
              max_batch_size: int = 2) -> None:
    write_model(repo, name, params(mode="sequence") + SEQUENCE.format(idle=idle, extra=extra),
                max_batch_size=max_batch_size)
    config = repo / name / "config.pbtxt"
    config.write_text(config.read_text().replace("dims: [ -1 ]", "dims: [ 1 ]"))


def request(model: str, value: float, corr: int | str, start: bool = False, end: bool = False,
            batched: bool = True) -> InferenceRequest:
    array = np.array([[value]] if batched else [value], dtype=np.float32)
    flags = (SEQUENCE_START if start else 0) | (SEQUENCE_END if end else 0)
    return InferenceRequest(model, {"INPUT0": Tensor.from_numpy("INPUT0", array)},
                            correlation_id=corr, flags=flags)


def value(response) -> float:
    return float(response.outputs[0].as_numpy().reshape(-1)[0])


def test_interleaved_sequences_keep_their_own_state_and_order(repo: Path) -> None:
    seq_model(repo)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            a = [request("acc", 1, 11, start=True), request("acc", 2, 11),
                 request("acc", 3, 11, end=True)]
            b = [request("acc", 10, 22, start=True), request("acc", 20, 22, end=True)]
            tasks = [asyncio.create_task(server.infer(r)) for r in (a[0], b[0], a[1], b[1], a[2])]
            results = [value(r) for r in await asyncio.gather(*tasks)]
            assert results == [1, 10, 3, 30, 6]
            response = await server.infer(request("acc", 5, 11, start=True, end=True))
            assert [t.name for t in response.outputs] == ["OUTPUT0"]  # state stays inside
            seen = [e for e in testing_backend.EVENTS if e[0] == "sequence" and e[2] == 11]
            assert [(s[3]["START"], s[3]["END"], s[3]["READY"], s[3]["CORRID"])
                    for s in seen] == [(1.0, 0, True, 11), (0.0, 0, True, 11),
                                       (0.0, 1, True, 11), (1.0, 1, True, 11)]
            assert [s[3]["STATE_IN"] for s in seen] == [0.0, 1.0, 3.0, 0.0]
        finally:
            await server.stop()

    run(go)


@pytest.mark.parametrize("make, message", [
    (lambda: request("acc", 1, 0), "must specify a non-zero or non-empty correlation ID"),
    (lambda: request("acc", 1, 99), "must specify the START flag"),
    (lambda: request("plain", 1, 5, start=True), "is not configured for sequence batching"),
    (lambda: request("acc", 1, "user-a", start=True),
     "sequence id 'user-a' is a string, but model 'acc' takes its CORRID control as UINT64"),
    (lambda: request("acc", 1, -5, start=True),
     "sequence id -5 does not fit model 'acc''s CORRID control of type UINT64"),
])
def test_sequence_request_errors(repo: Path, make, message: str) -> None:
    seq_model(repo)
    write_model(repo, "plain")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            with pytest.raises(TritonError) as info:
                await asyncio.wait_for(server.infer(make()), 10)
            assert info.value.code is ErrorCode.INVALID_ARG
            assert message in info.value.message
            # nothing stuck: the next sequence is served
            done = await asyncio.wait_for(server.infer(request("acc", 4, 7, start=True,
                                                               end=True)), 10)
            assert value(done) == 4
        finally:
            await server.stop()

    run(go)


def test_string_ids_and_restart_after_end(repo: Path) -> None:
    seq_model(repo, extra="", max_batch_size=0)
    config = repo / "acc" / "config.pbtxt"
    config.write_text(config.read_text().replace("TYPE_UINT64", "TYPE_STRING"))

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            r1 = await server.infer(request("acc", 2, "user-a", start=True, batched=False))
            with pytest.raises(TritonError, match="still in progress"):
                await server.infer(request("acc", 1, "user-a", start=True, batched=False))
            r2 = await server.infer(request("acc", 3, "user-a", end=True, batched=False))
            r3 = await server.infer(request("acc", 7, "user-a", start=True, end=True,
                                            batched=False))
            assert [value(r) for r in (r1, r2, r3)] == [2, 5, 7]
            corrids = [e[3]["CORRID"] for e in testing_backend.EVENTS if e[0] == "sequence"]
            assert corrids == [b"user-a"] * 3
        finally:
            await server.stop()

    run(go)


def test_a_sequence_waits_for_a_free_slot(repo: Path) -> None:
    seq_model(repo, max_batch_size=0)  # one slot on the one instance

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            await server.infer(request("acc", 1, 1, start=True, batched=False))
            second = asyncio.create_task(server.infer(request("acc", 5, 2, start=True,
                                                              end=True, batched=False)))
            await asyncio.sleep(0.1)
            assert not second.done()  # sequence 1 holds the only slot
            await server.infer(request("acc", 1, 1, end=True, batched=False))
            assert value(await asyncio.wait_for(second, 5)) == 5
        finally:
            await server.stop()

    run(go)


def test_idle_sequences_lose_their_slot(repo: Path) -> None:
    seq_model(repo, idle=50_000, max_batch_size=0)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            await server.infer(request("acc", 1, 1, start=True, batched=False))
            await asyncio.sleep(0.3)
            other = await asyncio.wait_for(
                server.infer(request("acc", 4, 2, start=True, end=True, batched=False)), 5)
            assert value(other) == 4
            with pytest.raises(TritonError, match="must specify the START flag"):
                await server.infer(request("acc", 1, 1, end=True, batched=False))
        finally:
            await server.stop()

    run(go)


def test_oldest_strategy_holds_more_sequences_than_batch_slots(repo: Path) -> None:
    seq_model(repo, max_batch_size=1)
    config = repo / "acc" / "config.pbtxt"
    config.write_text(config.read_text().replace(
        "sequence_batching {", "sequence_batching {\n  oldest { max_candidate_sequences: 2 }"))

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            await server.infer(request("acc", 1, 1, start=True))
            other = await asyncio.wait_for(  # a second sequence gets in while 1 is open
                server.infer(request("acc", 5, 2, start=True, end=True)), 5)
            assert value(other) == 5
            last = await server.infer(request("acc", 2, 1, end=True))
            assert value(last) == 3  # sequence 1 kept its own state
        finally:
            await server.stop()

    run(go)
