"""The in-process Server end to end: real repositories on disk, real backends via hooks."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import testing_backend
from conftest import make_server, params, run, write_model
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor


def request(model: str, values: list[float] | np.ndarray, version: int = -1,
            dtype: str = "FP32", name: str = "INPUT0", **kw) -> InferenceRequest:
    array = np.asarray(values, dtype=np.float32 if dtype == "FP32" else np.int32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    return InferenceRequest(model, {name: Tensor.from_numpy(name, array)}, model_version=version,
                            **kw)


def test_infer_metadata_config_and_statistics(repo: Path) -> None:
    write_model(repo, "double")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            assert server.is_live() and server.is_ready()
            response = await server.infer(request("double", [1.0, 2.5]))
            assert response.outputs[0].name == "OUTPUT0"
            assert response.outputs[0].as_numpy().tolist() == [[2.0, 5.0]]
            assert server.model_metadata("double") == {
                "name": "double", "versions": ["1"], "platform": "testing",
                "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, -1]}],
                "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, -1]}],
            }
            config = server.model_config("double")
            assert config["name"] == "double" and config["backend"] == "testing"
            assert config["max_batch_size"] == 4
            assert config["default_model_filename"] == "model.test"
            assert config["instance_group"][0]["kind"] == "KIND_CPU"
            stats = server.statistics("double")["model_stats"][0]
            assert stats["name"] == "double" and stats["version"] == "1"
            assert stats["inference_stats"]["success"]["count"] == 1
            assert stats["inference_stats"]["fail"]["count"] == 0
            assert stats["inference_count"] == 1 and stats["execution_count"] == 1
            assert stats["batch_stats"][0]["batch_size"] == 1
            assert stats["last_inference"] > 0
        finally:
            await server.stop()
        assert not server.is_live()

    run(go)


@pytest.mark.parametrize("make, code, message", [
    (lambda: request("nosuch", [1.0]), ErrorCode.NOT_FOUND, "unknown model 'nosuch'"),
    (lambda: request("double", [1.0], name="X"), ErrorCode.INVALID_ARG,
     "model 'double' has no input 'X'; its inputs are INPUT0"),
    (lambda: request("double", [1], dtype="INT32"), ErrorCode.INVALID_ARG,
     "model 'double': input 'INPUT0' expects FP32, got INT32"),
    (lambda: request("double", np.zeros((5, 2))), ErrorCode.INVALID_ARG,
     "model 'double': batch size 5 of input 'INPUT0' is outside 1..4 (max_batch_size)"),
    (lambda: request("double", np.zeros((1, 2, 2))), ErrorCode.INVALID_ARG,
     "model 'double': input 'INPUT0' has shape [1, 2, 2], the model expects [-1, -1]"),
    (lambda: InferenceRequest("double", {}), ErrorCode.INVALID_ARG,
     "model 'double': request is missing input(s) INPUT0"),
    (lambda: request("double", [1.0], version=7), ErrorCode.NOT_FOUND,
     "model 'double' version 7 is not ready: version not found; loaded versions: [1]"),
    (lambda: request("double", [1.0], requested_outputs=["NOPE"]), ErrorCode.INVALID_ARG,
     "model 'double' has no output 'NOPE'; its outputs are OUTPUT0"),
    (lambda: request("double", [1.0], name="X", id="req-9"), ErrorCode.INVALID_ARG,
     "[request id: req-9] model 'double' has no input 'X'"),  # which one, in a stream
])
def test_bad_requests_get_clear_errors_and_server_keeps_serving(repo: Path, make, code,
                                                                message) -> None:
    write_model(repo, "double")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            with pytest.raises(TritonError) as info:
                await server.infer(make())
            assert info.value.code is code
            assert info.value.message.startswith(message)
            ok = await server.infer(request("double", [3.0]))
            assert ok.outputs[0].as_numpy().tolist() == [[6.0]]
        finally:
            await server.stop()

    run(go)


def test_failing_model_is_unavailable_and_others_serve(repo: Path) -> None:
    write_model(repo, "good")
    write_model(repo, "bad", params(fail_load="weights are corrupt"))
    write_model(repo, "broken", text='name: "broken"\nmax_batch_size: -3\nbackend: "testing"')

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        try:
            index = {r["name"]: r for r in server.repository_index()}
            assert index["good"]["state"] == "READY"
            assert index["bad"]["state"] == "UNAVAILABLE"
            assert "RuntimeError: weights are corrupt" in index["bad"]["reason"]
            assert index["broken"]["state"] == "UNAVAILABLE"
            assert "max_batch_size" in index["broken"]["reason"]
            assert not server.is_ready()  # strict readiness: a model failed
            assert server.model_ready("good") and not server.model_ready("bad")
            with pytest.raises(TritonError) as info:
                await server.infer(request("bad", [1.0]))
            assert info.value.code is ErrorCode.UNAVAILABLE
            assert "weights are corrupt" in info.value.message
            out = await server.infer(request("good", [1.0]))
            assert out.outputs[0].as_numpy().tolist() == [[2.0]]
        finally:
            await server.stop()

    run(go)


def test_not_strict_readiness_is_ready_despite_failures(repo: Path) -> None:
    write_model(repo, "bad", params(fail_load="x"))

    async def go() -> None:
        server = make_server(repo, exit_on_error=False, strict_readiness=False)
        await server.start()
        assert server.is_ready()
        await server.stop()

    run(go)


def test_exit_on_error_fails_startup_and_unloads_the_rest(repo: Path) -> None:
    write_model(repo, "good")
    write_model(repo, "bad", params(fail_load="nope"))

    async def go() -> None:
        server = make_server(repo)
        with pytest.raises(TritonError) as info:
            await server.start()
        assert "failed to load all models" in info.value.message
        assert "--exit-on-error=false" in info.value.message
        assert ("model_finalize", "good", 1) in testing_backend.EVENTS

    run(go)


def test_control_mode_none_refuses_load_and_unload(repo: Path) -> None:
    write_model(repo, "double")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            for call in (server.load_model("double"), server.unload_model("double")):
                with pytest.raises(TritonError) as info:
                    await call
                assert info.value.code is ErrorCode.UNAVAILABLE
                assert "--model-control-mode=none" in info.value.message
        finally:
            await server.stop()

    run(go)


def test_explicit_mode_load_unload_and_index(repo: Path) -> None:
    write_model(repo, "a")
    write_model(repo, "b")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["a"])
        await server.start()
        try:
            assert server.repository_index() == [
                {"name": "a", "version": "1", "state": "READY"},
                {"name": "b"},
            ]
            assert server.repository_index(ready_only=True) == [
                {"name": "a", "version": "1", "state": "READY"}]
            await server.load_model("b")
            assert server.model_ready("b")
            await server.unload_model("a")
            assert server.repository_index()[0] == {
                "name": "a", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}
            with pytest.raises(TritonError) as info:
                await server.infer(request("a", [1.0]))
            assert info.value.code is ErrorCode.UNAVAILABLE
            with pytest.raises(TritonError) as info:
                await server.load_model("nosuch")
            assert info.value.code is ErrorCode.NOT_FOUND
            assert "model 'nosuch' is not in any model repository" in info.value.message
        finally:
            await server.stop()

    run(go)


def test_explicit_star_loads_everything(repo: Path) -> None:
    write_model(repo, "a")
    write_model(repo, "b")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["*"])
        await server.start()
        assert server.model_ready("a") and server.model_ready("b")
        await server.stop()

    run(go)


def test_version_policies_choose_versions(repo: Path) -> None:
    write_model(repo, "latest", versions=(1, 2, 3))
    write_model(repo, "every", "version_policy: { all: {} }", versions=(1, 2, 3))
    write_model(repo, "some", "version_policy: { specific: { versions: [1, 4] } }",
                versions=(1, 2))

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        try:
            rows = [(r["name"], r["version"], r["state"]) for r in server.repository_index()]
            assert rows == [
                ("every", "1", "READY"), ("every", "2", "READY"), ("every", "3", "READY"),
                ("latest", "3", "READY"),
                ("some", "1", "READY"), ("some", "4", "UNAVAILABLE"),
            ]
            await server.infer(request("every", [1.0], version=2))
            stats = server.statistics("every")["model_stats"]
            assert [(s["version"], s["inference_stats"]["success"]["count"]) for s in stats] == [
                ("1", 0), ("2", 1), ("3", 0)]
            assert server.model_metadata("every")["versions"] == ["1", "2", "3"]
        finally:
            await server.stop()

    run(go)


def test_reload_keeps_in_flight_requests(repo: Path) -> None:
    write_model(repo, "slow", params(delay_ms="300"))

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["slow"])
        await server.start()
        try:
            before = server.model("slow")
            pending = [asyncio.create_task(server.infer(request("slow", [float(i)])))
                       for i in range(3)]
            await asyncio.sleep(0.05)
            write_model(repo, "slow", params(delay_ms="0"))
            await server.load_model("slow")
            after = server.model("slow")
            assert after is not before
            fresh = await server.infer(request("slow", [5.0]))
            assert fresh.outputs[0].as_numpy().tolist() == [[10.0]]
            results = await asyncio.gather(*pending)
            assert [r.outputs[0].as_numpy().tolist() for r in results] == [
                [[0.0]], [[2.0]], [[4.0]]]
            assert ("model_finalize", "slow", 1) in testing_backend.EVENTS
        finally:
            await server.stop()

    run(go)


def test_failed_reload_keeps_serving_the_old_version(repo: Path) -> None:
    write_model(repo, "m")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["m"])
        await server.start()
        try:
            write_model(repo, "m", params(fail_load="bad weights"))
            with pytest.raises(TritonError, match="bad weights"):
                await server.load_model("m")
            assert server.model_ready("m")
            row = server.repository_index()[0]
            assert row["state"] == "READY" and "reload failed" in row["reason"]
            out = await server.infer(request("m", [1.0]))
            assert out.outputs[0].as_numpy().tolist() == [[2.0]]
        finally:
            await server.stop()

    run(go)


def test_poll_mode_loads_changes_and_unloads_removed(repo: Path) -> None:
    write_model(repo, "a")

    async def go() -> None:
        server = make_server(repo, model_control_mode="poll", repository_poll_secs=3600)
        await server.start()
        try:
            first = server.model("a")
            write_model(repo, "b")
            await server.repository.poll_once()
            assert server.model_ready("b") and server.model("a") is first  # unchanged
            write_model(repo, "a", params(delay_ms="1"))
            await server.repository.poll_once()
            assert server.model("a") is not first
            shutil.rmtree(repo / "b")
            await server.repository.poll_once()
            assert not server.model_ready("b")
            assert [r["name"] for r in server.repository_index()] == ["a"]
        finally:
            await server.stop()

    run(go)


def override_config(name: str) -> str:
    """The JSON config a load request sends for a ``testing`` model of FP32[3] in and out."""
    return (f'{{"name": "{name}", "backend": "testing", "max_batch_size": 2, '
            '"input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [3]}], '
            '"output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [3]}]}')


def test_config_and_file_overrides(repo: Path) -> None:
    write_model(repo, "m")
    config = override_config("m")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit")
        await server.start()
        try:
            await server.load_model("m", config_json=config)
            assert server.model_config("m")["max_batch_size"] == 2
            assert server.model_metadata("m")["inputs"][0]["shape"] == [-1, 3]
            await server.load_model("m", config_json=config,
                                    files={"2/model.test": b"weights"})
            loaded = server.model("m")
            override_dir = loaded.ctx.model_dir
            assert loaded.version == 2 and override_dir != repo / "m"
            assert (override_dir / "2" / "model.test").read_bytes() == b"weights"
            with pytest.raises(TritonError) as info:
                await server.load_model("m", config_json=config, files={"../evil": b"x"})
            assert info.value.code is ErrorCode.INVALID_ARG
            assert "may not contain '..'" in info.value.message
            assert server.model("m") is loaded  # a refused override changes nothing
            with pytest.raises(TritonError, match="file overrides need a 'config'"):
                await server.load_model("m", files={"1/x": b""})
            with pytest.raises(TritonError, match="not valid JSON"):
                await server.load_model("m", config_json="{nope")
            await server.unload_model("m")
            assert not override_dir.exists()
            # a model only the load request had: once unloaded, no longer in the index
            await server.load_model("only", config_json=override_config("only"),
                                    files={"1/model.test": b"w"})
            assert server.model_ready("only")
            await server.unload_model("only")
            assert {r["name"] for r in server.repository_index()} == {"m"}
            with pytest.raises(TritonError, match="not in any model repository"):
                await server.load_model("only")
        finally:
            await server.stop()

    run(go)


def test_backend_initialized_once_and_finalized_when_unused(repo: Path) -> None:
    write_model(repo, "a")
    write_model(repo, "b")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit", load_models=["a", "b"],
                             backend_config={"testing": {"k": "v"}, "": {"g": "1"}})
        await server.start()
        try:
            inits = [e for e in testing_backend.EVENTS if e[0] == "backend_initialize"]
            assert inits == [("backend_initialize", {"g": "1", "k": "v"})]
            await server.unload_model("a")
            assert ("backend_finalize",) not in testing_backend.EVENTS
            await server.unload_model("b")
            assert testing_backend.EVENTS[-1] == ("backend_finalize",)
            await server.load_model("a")  # the backend comes back on demand
            assert server.model_ready("a")
        finally:
            await server.stop()

    run(go)


def test_execute_failures_become_error_responses(repo: Path) -> None:
    write_model(repo, "raises", params(mode="raise"))
    write_model(repo, "short", params(mode="short"))

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            with pytest.raises(TritonError) as info:
                await server.infer(request("raises", [1.0]))
            assert info.value.code is ErrorCode.INTERNAL
            assert info.value.message == (
                "model 'raises' instance 'raises_0': execute raised ValueError: boom")
            with pytest.raises(TritonError) as info:
                await server.infer(request("short", [1.0]))
            assert "execute returned 0 item(s) for 1 request(s)" in info.value.message
            stats = server.statistics("raises")["model_stats"][0]["inference_stats"]
            assert stats["fail"]["count"] == 1 and stats["success"]["count"] == 0
        finally:
            await server.stop()

    run(go)


def test_decoupled_streams_responses_in_order(repo: Path) -> None:
    write_model(repo, "dec", params(mode="decoupled") +
                "\nmodel_transaction_policy { decoupled: true }")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            got = [r async for r in server.infer_stream(request("dec", [3.0]))]
            assert [r.outputs[0].as_numpy().tolist() for r in got[:-1]] == [[0.0], [1.0], [2.0]]
            assert [r.final for r in got] == [False, False, False, True]
            assert got[-1].outputs == [] and got[-1].error is None
            with pytest.raises(TritonError) as info:
                await server.infer(request("dec", [1.0]))
            assert info.value.code is ErrorCode.UNSUPPORTED
        finally:
            await server.stop()

    run(go)


def test_instances_run_in_parallel_but_each_one_serially(repo: Path) -> None:
    write_model(repo, "par", params(delay_ms="100") + "\ninstance_group [{ count: 2 }]")

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        try:
            await asyncio.gather(*(server.infer(request("par", [1.0])) for _ in range(6)))
        finally:
            await server.stop()
        runs = [e for e in testing_backend.EVENTS if e[0] == "execute"]
        assert {e[3] for e in runs} == {"par_0_0", "par_0_1"}
        by_instance: dict[str, list[tuple[float, float]]] = {}
        for e in runs:
            by_instance.setdefault(e[3], []).append((e[4], e[5]))
        for spans in by_instance.values():  # one instance: never two batches at once
            spans.sort()
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        a, b = by_instance["par_0_0"][0], by_instance["par_0_1"][0]
        assert a[0] < b[1] and b[0] < a[1]  # two instances: overlapping batches

    run(go)


def test_models_load_in_parallel(repo: Path) -> None:
    for name in ("a", "b", "c"):
        write_model(repo, name, params(load_delay_ms="200"))

    async def go() -> None:
        server = make_server(repo, model_load_thread_count=3)
        await server.start()
        await server.stop()
        spans = [e[3:5] for e in testing_backend.EVENTS if e[0] == "load_model"]
        assert len(spans) == 3
        assert max(s[0] for s in spans) < min(s[1] for s in spans)  # all overlapped

    run(go)


def test_autocomplete_through_backend_hook(repo: Path) -> None:
    write_model(repo, "auto", text='backend: "testing"\n' + params(autocomplete="1"))

    async def go() -> None:
        server = make_server(repo, backend_config={"": {"default-max-batch-size": "8"}})
        await server.start()
        config = server.model_config("auto")
        assert config["name"] == "auto" and config["max_batch_size"] == 8
        assert [i["name"] for i in config["input"]] == ["INPUT0"]
        await server.stop()
        off = make_server(repo, disable_auto_complete_config=True)
        await off.start()
        config = off.model_config("auto")
        assert "input" not in config or config["input"] == []
        assert config["max_batch_size"] == 0
        await off.stop()

    run(go)


def test_model_config_name_picks_configs_dir(repo: Path) -> None:
    model = write_model(repo, "m")
    (model / "configs").mkdir()
    (model / "configs" / "big.pbtxt").write_text(
        (model / "config.pbtxt").read_text().replace("max_batch_size: 4", "max_batch_size: 32"))

    async def go() -> None:
        server = make_server(repo, model_config_name="big")
        await server.start()
        assert server.model_config("m")["max_batch_size"] == 32
        await server.stop()

    run(go)


def test_server_level_config_file(repo: Path) -> None:
    write_model(repo, "m")
    (repo / "config.pbtxt").write_text(
        'model_config_list: [ { config: { name: "m", max_batch_size: 16,'
        ' instance_group: [ { count: 3, kind: KIND_CPU } ] } } ]\n'
        'backend_config: [ { backend: "testing", parameters: { key: "a", value: "file" } },'
        ' { backend: "other", parameters: { key: "b", value: "file" } } ]\n')

    async def go() -> None:
        server = make_server(repo, backend_config={"testing": {"a": "flag"}})
        await server.start()
        try:
            config = server.model_config("m")
            assert config["max_batch_size"] == 16
            assert config["instance_group"][0]["count"] == 3
            assert config["input"][0]["name"] == "INPUT0"  # the model's own file still counts
            inits = [e for e in testing_backend.EVENTS if e[0] == "backend_initialize"]
            assert inits == [("backend_initialize", {"a": "flag"})]  # the command line wins
        finally:
            await server.stop()

    run(go)


def test_server_level_config_naming_unknown_model_is_an_error(repo: Path) -> None:
    write_model(repo, "m")
    (repo / "config.pbtxt").write_text('model_config_list: [ { config: { name: "ghost" } } ]')
    with pytest.raises(TritonError, match="ghost"):
        make_server(repo)


def test_kind_gpu_without_gpu_fails_that_model(repo: Path) -> None:
    write_model(repo, "gpu", "instance_group [{ kind: KIND_GPU }]")
    write_model(repo, "auto", "instance_group [{ kind: KIND_AUTO, count: 2 }]")

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        try:
            rows = {r["name"]: r for r in server.repository_index()}
            assert rows["gpu"]["state"] == "UNAVAILABLE"
            assert "KIND_GPU" in rows["gpu"]["reason"] and "no GPU" in rows["gpu"]["reason"]
            assert rows["auto"]["state"] == "READY"
            assert server.model_config("auto")["instance_group"][0]["kind"] == "KIND_CPU"
        finally:
            await server.stop()

    run(go)


def test_platform_alias_of_missing_backend_says_what_to_install(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tritoncore.plugins.discover", lambda env=None: {})  # none installed
    write_model(repo, "resnet", text='name: "resnet"\nplatform: "pytorch"\nmax_batch_size: 16')

    async def go() -> None:
        server = make_server(repo, exit_on_error=False)
        await server.start()
        reason = server.repository_index()[0]["reason"]
        await server.stop()
        assert "pytorch" in reason and "pip install tritoncore-pytorch" in reason

    run(go)


def test_stop_finishes_in_flight_requests(repo: Path) -> None:
    write_model(repo, "slow", params(delay_ms="200"))

    async def go() -> None:
        server = make_server(repo)
        await server.start()
        pending = asyncio.create_task(server.infer(request("slow", [2.0])))
        await asyncio.sleep(0.05)
        await server.stop()
        assert (await pending).outputs[0].as_numpy().tolist() == [[4.0]]
        assert ("instance_finalize", "slow", 1, "slow_0") in testing_backend.EVENTS

    run(go)


def test_a_load_waiting_on_the_unload_of_an_override_only_model_registers_it_again(
        repo: Path) -> None:
    config = override_config("only")

    async def go() -> None:
        server = make_server(repo, model_control_mode="explicit")
        await server.start()
        try:
            await server.load_model("only", config_json=config, files={"1/model.test": b"w"})
            unload = asyncio.create_task(server.unload_model("only"))
            load = asyncio.create_task(server.load_model("only", config_json=config,
                                                         files={"1/model.test": b"w"}))
            await asyncio.gather(unload, load)
            assert server.model_ready("only")
            assert [r["name"] for r in server.repository_index()] == ["only"]
        finally:
            await server.stop()

    run(go)
