"""Ensembles: step graphs over real models, errors, dependencies, streaming, no copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_server, params, run, write_model
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor


def step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    ins = " ".join(f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
    outs = " ".join(f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
    return f'{{ model_name: "{model}" model_version: -1 {ins} {outs} }}'


def ensemble(repo: Path, name: str, steps: list[str], outputs: tuple[str, ...] = ("OUT",),
             extra: str = "", dtype: str = "TYPE_FP32") -> None:
    outs = ", ".join(f'{{ name: "{o}", data_type: {dtype}, dims: [ -1 ] }}' for o in outputs)
    write_model(repo, name, text=f"""
        name: "{name}"
        platform: "ensemble"
        max_batch_size: 4
        input [ {{ name: "IN", data_type: {dtype}, dims: [ -1 ] }} ]
        output [ {outs} ]
        ensemble_scheduling {{ step [ {", ".join(steps)} ] }}
        {extra}""")


def request(model: str, values: list[float]) -> InferenceRequest:
    array = np.array([values], dtype=np.float32)
    return InferenceRequest(model, {"IN": Tensor.from_numpy("IN", array)})


def chain(repo: Path) -> None:
    for name in ("a", "b", "c"):
        write_model(repo, name)
    ensemble(repo, "two", [step("a", {"INPUT0": "IN"}, {"OUTPUT0": "mid"}),
                           step("b", {"INPUT0": "mid"}, {"OUTPUT0": "OUT"})])
    ensemble(repo, "three", [step("c", {"INPUT0": "y"}, {"OUTPUT0": "OUT"}),  # out of order
                             step("a", {"INPUT0": "IN"}, {"OUTPUT0": "x"}),
                             step("b", {"INPUT0": "x"}, {"OUTPUT0": "y"})],
             outputs=("OUT", "x"))


def test_two_and_three_step_ensembles(repo: Path) -> None:
    chain(repo)

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            r = await server.infer(request("two", [1.0, 2.5]))
            assert [(t.name, t.as_numpy().tolist()) for t in r.outputs] == [("OUT", [[4.0, 10.0]])]
            r = await server.infer(request("three", [1.0]))
            assert {t.name: t.as_numpy().tolist() for t in r.outputs} == {
                "OUT": [[8.0]], "x": [[2.0]]}
            assert server.model_metadata("three")["platform"] == "ensemble"
            stats = server.statistics("three")["model_stats"][0]
            # one execution per request, as in Triton: perf_analyzer needs the counts to grow
            assert (stats["inference_count"], stats["execution_count"]) == (1, 1)
            assert {k: v["count"] for k, v in stats["inference_stats"].items()} == {
                "success": 1, "fail": 0, "queue": 1, "compute_input": 1, "compute_infer": 1,
                "compute_output": 1, "cache_hit": 0, "cache_miss": 0}
            assert stats["inference_stats"]["compute_infer"]["ns"] > 0
        finally:
            await server.stop()

    run(go)


def test_step_error_reaches_the_client(repo: Path) -> None:
    write_model(repo, "ok")
    write_model(repo, "bad", params(mode="raise"))
    ensemble(repo, "e", [step("ok", {"INPUT0": "IN"}, {"OUTPUT0": "mid"}),
                         step("bad", {"INPUT0": "mid"}, {"OUTPUT0": "OUT"})])

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            with pytest.raises(TritonError) as info:
                await server.infer(request("e", [1.0]))
            assert info.value.code is ErrorCode.INTERNAL
            assert info.value.message.startswith("in ensemble 'e', step 'bad': model 'bad'")
            assert "ValueError: boom" in info.value.message
        finally:
            await server.stop()

    run(go)


def test_broken_graphs_and_missing_steps_fail_the_ensemble(repo: Path) -> None:
    write_model(repo, "a")
    ensemble(repo, "gap", [step("a", {"INPUT0": "nowhere"}, {"OUTPUT0": "OUT"})])
    ensemble(repo, "ghost", [step("nosuch", {"INPUT0": "IN"}, {"OUTPUT0": "OUT"})])
    ensemble(repo, "unproduced", [step("a", {"INPUT0": "IN"}, {"OUTPUT0": "other"})])

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        try:
            rows = {r["name"]: r for r in server.repository_index()}
            assert rows["a"]["state"] == "READY"
            assert "step 'a' needs nowhere" in rows["gap"]["reason"]
            assert "step model 'nosuch' is not ready" in rows["ghost"]["reason"]
            assert "no step produces output 'OUT'" in rows["unproduced"]["reason"]
        finally:
            await server.stop()

    run(go)


def test_explicit_load_of_an_ensemble_loads_its_steps(repo: Path) -> None:
    chain(repo)

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit")
        await server.start()
        try:
            await server.load_model("two")
            assert server.model_ready("a") and server.model_ready("b")
            r = await server.infer(request("two", [3.0]))
            assert r.outputs[0].as_numpy().tolist() == [[12.0]]
        finally:
            await server.stop()

    run(go)


def test_tensors_pass_between_steps_without_copies(repo: Path) -> None:
    for name in ("i1", "i2"):
        write_model(repo, name, text=f"""
            name: "{name}"
            backend: "identity"
            max_batch_size: 4
            input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
            output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]""")
    ensemble(repo, "e", [step("i1", {"INPUT0": "IN"}, {"OUTPUT0": "mid"}),
                         step("i2", {"INPUT0": "mid"}, {"OUTPUT0": "OUT"})])

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            req = request("e", [1.0, 2.0])
            source = req.inputs["IN"].as_numpy()
            r = await server.infer(req)
            assert np.shares_memory(r.outputs[0].as_numpy(), source)
        finally:
            await server.stop()

    run(go)


def test_decoupled_step_streams_through_a_decoupled_ensemble(repo: Path) -> None:
    write_model(repo, "dec", params(mode="decoupled") +
                "\nmodel_transaction_policy { decoupled: true }")
    ensemble(repo, "stream", [step("dec", {"INPUT0": "IN"}, {"OUTPUT0": "OUT"})],
             extra="model_transaction_policy { decoupled: true }")
    ensemble(repo, "not_decoupled", [step("dec", {"INPUT0": "IN"}, {"OUTPUT0": "OUT"})])

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            got = [r async for r in server.infer_stream(request("stream", [3.0]))]
            assert [r.outputs[0].as_numpy().tolist() for r in got[:-1]] == [[0.0], [1.0], [2.0]]
            assert got[-1].final and got[-1].outputs == []
            with pytest.raises(TritonError, match="the ensemble must set model_transaction_policy"):
                await server.infer(request("not_decoupled", [1.0]))
        finally:
            await server.stop()

    run(go)


def test_unload_dependents_unloads_the_ensembles_using_a_model(repo: Path) -> None:
    chain(repo)

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["two", "three"])
        await server.start()
        try:
            assert server.repository.dependents("a") == ["three", "two"]
            await server.unload_model("b")  # without dependents: the ensembles stay loaded
            assert server.model_ready("two")
            await server.load_model("b")
            await server.unload_model("a", unload_dependents=True)
            assert not server.model_ready("a")
            assert not server.model_ready("two") and not server.model_ready("three")
            assert server.model_ready("b") and server.model_ready("c")
        finally:
            await server.stop()

    run(go)
