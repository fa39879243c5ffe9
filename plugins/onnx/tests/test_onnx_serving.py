"""The ONNX Runtime backend serving real ONNX models, compared with onnxruntime and torch."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_serving import (  # noqa: F401 (repo_fixture is a fixture)
    HAS_CUDA,
    add_sub,
    graph_model,
    infer,
    repo_fixture,
    request,
    run_direct,
    serve,
    write_model,
)
from tritoncore.tensor import Tensor


def test_auto_complete_fills_io_batching_and_dynamic_batching(repo: Path) -> None:
    write_model(repo, "addsub", add_sub())  # no config.pbtxt at all
    a = np.arange(8, dtype=np.int32).reshape(2, 4)
    b = np.full((2, 4), 3, dtype=np.int32)

    async def body(server):
        return server.model_config("addsub"), await infer(server, "addsub", A=a, B=b)

    config, out = serve(repo, body)
    assert config["platform"] == "onnxruntime_onnx" and config["backend"] == "onnxruntime"
    assert config["max_batch_size"] == 4
    assert "dynamic_batching" in config
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        ("A", "TYPE_INT32", [4]), ("B", "TYPE_INT32", [4])]
    assert [(o["name"], o["data_type"], o["dims"]) for o in config["output"]] == [
        ("SUM", "TYPE_INT32", [4]), ("DIFF", "TYPE_INT32", [4])]
    want = run_direct(add_sub(), A=a, B=b)
    np.testing.assert_array_equal(out["SUM"], want["SUM"])
    np.testing.assert_array_equal(out["DIFF"], want["DIFF"])


def test_auto_complete_respects_what_the_config_says(repo: Path) -> None:
    write_model(repo, "partial", add_sub(TensorProto.FLOAT), """
        name: "partial"
        platform: "onnxruntime_onnx"
        max_batch_size: 8
        output [ { name: "DIFF", data_type: TYPE_FP32, dims: [ 4 ] } ]
    """)
    write_model(repo, "fixed", add_sub(TensorProto.INT64, shape=[2, 3]))
    write_model(repo, "custom", add_sub(), "max_batch_size: 2")

    async def body(server):
        return {n: server.model_config(n) for n in ("partial", "fixed", "custom")}

    configs = serve(repo, body, backend_config={"": {"default-max-batch-size": "16"}})
    partial = configs["partial"]
    assert partial["max_batch_size"] == 8 and "dynamic_batching" not in partial
    assert [i["name"] for i in partial["input"]] == ["A", "B"]
    assert [o["name"] for o in partial["output"]] == ["DIFF"]  # a subset of outputs is legal
    fixed = configs["fixed"]
    assert fixed["max_batch_size"] == 0  # first dimension is not dynamic: no batching
    assert fixed["input"][0]["dims"] == [2, 3]
    assert configs["custom"]["max_batch_size"] == 2


def test_torch_exported_model_matches_torch_under_concurrent_load(repo: Path,
                                                                  tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(8, 5)).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    write_model(repo, "net", None, """
        name: "net"
        platform: "onnxruntime_onnx"
        max_batch_size: 16
        instance_group [ { count: 2, kind: KIND_CPU } ]
    """)
    # the dynamo exporter writes weights beside the file (model.onnx.data): external data
    torch.onnx.export(net, (torch.zeros(2, 3, 8, 8),), str(repo / "net" / "1" / "model.onnx"),
                      input_names=["image"], output_names=["logits"],
                      dynamic_shapes={"input": {0: batch}})
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((int(n), 3, 8, 8), dtype=np.float32)
              for n in rng.integers(1, 5, size=40)]

    async def body(server):
        return await asyncio.gather(*(infer(server, "net", image=x) for x in images))

    outs = serve(repo, body)
    with torch.no_grad():
        for x, out in zip(images, outs):
            np.testing.assert_allclose(out["logits"], net(torch.from_numpy(x)).numpy(),
                                       rtol=1e-4, atol=1e-5)


def test_one_execute_with_several_requests_is_one_session_run(repo: Path) -> None:
    model = add_sub(TensorProto.FLOAT)
    write_model(repo, "addsub", model, 'max_batch_size: 8')
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal((n, 4), dtype=np.float32),
              rng.standard_normal((n, 4), dtype=np.float32)) for n in (1, 3, 2)]

    async def body(server):
        instance = server.model("addsub").runners[0].instance
        calls = []
        session = instance.session

        class Counting:
            def run(self, names, feed, options=None):
                calls.append(feed["A"].shape[0])
                return session.run(names, feed, options)

            def get_providers(self):
                return session.get_providers()

        instance.session = Counting()
        requests = [request("addsub", A=a, B=b, outputs=["SUM"]) for a, b in pairs]
        responses = await asyncio.to_thread(instance.execute, requests)
        instance.session = session
        return calls, responses

    calls, responses = serve(repo, body)
    assert calls == [6]
    for (a, b), response in zip(pairs, responses):
        assert response.error is None and [t.name for t in response.outputs] == ["SUM"]
        np.testing.assert_array_equal(response.outputs[0].as_numpy(),
                                      run_direct(model, A=a, B=b)["SUM"])


@pytest.mark.parametrize("elem, dtype", [
    (TensorProto.INT8, np.int8), (TensorProto.UINT8, np.uint8), (TensorProto.INT16, np.int16),
    (TensorProto.INT64, np.int64), (TensorProto.FLOAT16, np.float16),
    (TensorProto.DOUBLE, np.float64)])
def test_numeric_types_are_exact(repo: Path, elem: int, dtype: type) -> None:
    model = add_sub(elem)
    write_model(repo, "m", model)
    a = np.arange(8).reshape(2, 4).astype(dtype)
    b = np.full((2, 4), 2).astype(dtype)

    async def body(server):
        return await infer(server, "m", A=a, B=b)

    out = serve(repo, body)
    want = run_direct(model, A=a, B=b)
    assert out["SUM"].dtype == dtype
    np.testing.assert_array_equal(out["SUM"], want["SUM"])
    np.testing.assert_array_equal(out["DIFF"], want["DIFF"])


def test_bool_and_string_tensors(repo: Path) -> None:
    write_model(repo, "logic", graph_model(
        [helper.make_node("And", ["X", "Y"], ["BOTH"]),
         helper.make_node("Identity", ["WORDS"], ["ECHO"])],
        [("X", TensorProto.BOOL, ["n", 3]), ("Y", TensorProto.BOOL, ["n", 3]),
         ("WORDS", TensorProto.STRING, ["n", 2])],
        [("BOTH", TensorProto.BOOL, ["n", 3]), ("ECHO", TensorProto.STRING, ["n", 2])]))
    x = np.array([[True, True, False]])
    y = np.array([[True, False, False]])
    words = np.array([["héllo".encode(), b"world"]], dtype=object)

    async def body(server):
        response = await server.infer(request("logic", X=x, Y=y, WORDS=words))
        return {t.name: t for t in response.outputs}

    out = serve(repo, body)
    assert out["BOTH"].as_numpy().tolist() == [[True, False, False]]
    assert out["ECHO"].datatype == "BYTES"
    assert out["ECHO"].as_numpy().tolist() == [["héllo".encode(), b"world"]]


def test_model_directory_with_external_data(repo: Path) -> None:
    weights = np.arange(12, dtype=np.float32).reshape(4, 3)
    model = graph_model([helper.make_node("MatMul", ["X", "W"], ["Y"])],
                        [("X", TensorProto.FLOAT, ["b", 4])], [("Y", TensorProto.FLOAT, ["b", 3])],
                        initializers=[onnx.numpy_helper.from_array(weights, "W")])
    target = repo / "ext" / "1" / "model.onnx"
    target.mkdir(parents=True)
    onnx.save_model(model, str(target / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    assert (target / "weights.bin").stat().st_size == weights.nbytes
    x = np.ones((2, 4), np.float32)

    async def body(server):
        return await infer(server, "ext", X=x)

    out = serve(repo, body)
    np.testing.assert_allclose(out["Y"], x @ weights, rtol=1e-6)


def test_session_options_from_parameters(repo: Path) -> None:
    params = {"intra_op_thread_count": "1", "inter_op_thread_count": "1",
              "execution_mode": "1", "enable_mem_arena": "1", "enable_mem_pattern": "0",
              "memory.enable_memory_arena_shrinkage": "1"}
    text = "\n".join(f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}'
                     for k, v in params.items())
    write_model(repo, "tuned", add_sub(), text + "\noptimization { graph { level: -1 } }")

    async def body(server):
        instance = server.model("tuned").runners[0].instance
        a = np.ones((1, 4), np.int32)
        return instance, await infer(server, "tuned", A=a, B=a)

    instance, out = serve(repo, body)
    import onnxruntime as ort
    options = instance.session.get_session_options() if instance.session else None
    assert out["SUM"].tolist() == [[2, 2, 2, 2]]
    if options is not None:
        assert options.intra_op_num_threads == 1
        assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
        assert not options.enable_mem_pattern
        assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert instance.run_options is not None


def test_providers_fall_back_to_cpu_with_a_warning(repo: Path, caplog) -> None:
    from tritoncore_onnxruntime import session

    write_model(repo, "ov", add_sub(), """
        instance_group [ { kind: KIND_CPU } ]
        optimization { execution_accelerators {
          cpu_execution_accelerator : [ { name : "openvino" } ] } }
    """)
    caplog.set_level(logging.INFO)

    async def body(server):
        return server.model("ov").runners[0].instance.provider

    assert serve(repo, body) == "CPUExecutionProvider"
    assert "OpenVINOExecutionProvider is not available" in caplog.text
    assert "falling back to CPUExecutionProvider" in caplog.text
    assert "ONNX Runtime runs on CPUExecutionProvider" in caplog.text

    from tritoncore.config import parse_model_config_text
    config = parse_model_config_text("""
        name: "trt"
        optimization { execution_accelerators { gpu_execution_accelerator : [
          { name : "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }
    """)
    chosen, warnings = session.providers(config, "KIND_GPU", 1,
                                         available=["CUDAExecutionProvider",
                                                    "CPUExecutionProvider"])
    assert [p for p, _ in chosen] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert chosen[0][1] == {"device_id": "1"}
    assert "TensorrtExecutionProvider is not available" in warnings[0]
    chosen, _ = session.providers(config, "KIND_GPU", 0, available=[
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert chosen[0] == ("TensorrtExecutionProvider", {
        "device_id": "0", "trt_fp16_enable": "True", "trt_int8_enable": "False"})


def test_models_that_cannot_load_say_why(repo: Path) -> None:
    config = """
        platform: "onnxruntime_onnx"
        max_batch_size: 4
        input [ {{ name: "{a}", data_type: {t}, dims: [ {d} ] }},
                {{ name: "B", data_type: TYPE_INT32, dims: [ 4 ] }} ]
        output [ {{ name: "SUM", data_type: TYPE_INT32, dims: [ 4 ] }} ]
        instance_group [ {{ kind: {k} }} ]
    """
    good = {"a": "A", "t": "TYPE_INT32", "d": "4", "k": "KIND_CPU"}
    write_model(repo, "good", add_sub(), config.format(**good))
    write_model(repo, "missing", None, config.format(**good))
    write_model(repo, "corrupt", b"definitely not protobuf", config.format(**good))
    write_model(repo, "badname", add_sub(), config.format(**{**good, "a": "X"}))
    write_model(repo, "badtype", add_sub(), config.format(**{**good, "t": "TYPE_FP32"}))
    write_model(repo, "badrank", add_sub(), config.format(**{**good, "d": "1, 4"}))
    write_model(repo, "gpu", add_sub(), config.format(**{**good, "k": "KIND_GPU"}))

    async def body(server):
        assert server.model_ready("good")
        return {r["name"]: r["reason"] for r in server.repository_index()
                if r["state"] == "UNAVAILABLE"}

    reasons = serve(repo, body, exit_on_error=False)
    assert "model file" in reasons["missing"] and "does not exist" in reasons["missing"]
    assert "ONNX Runtime cannot load model.onnx" in reasons["corrupt"]
    assert "config input 'X' is not an input of the ONNX model (its inputs: A, B)" \
        in reasons["badname"]
    assert "input 'A' is INT32 in the ONNX model, but the config says FP32" in reasons["badtype"]
    assert "input 'A' has 2 dimensions" in reasons["badrank"]
    assert "KIND_GPU" in reasons["gpu"] and "no GPU" in reasons["gpu"]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and a CUDA GPU")
def test_gpu_instance_runs_on_cuda_and_takes_gpu_inputs(repo: Path) -> None:
    torch = pytest.importorskip("torch")
    model = add_sub(TensorProto.FLOAT)
    write_model(repo, "addsub", model, """
        max_batch_size: 4
        instance_group [ { kind: KIND_GPU } ]
    """)
    a = np.arange(8, dtype=np.float32).reshape(2, 4)

    async def body(server):
        provider = server.model("addsub").runners[0].instance.provider
        on_gpu = torch.from_numpy(a).cuda()
        out = await infer(server, "addsub", A=Tensor("A", "FP32", (2, 4), on_gpu,
                                                     memory=MemoryKind.GPU), B=a)
        return provider, out

    from tritoncore.tensor import MemoryKind

    provider, out = serve(repo, body, gpus=1)
    assert provider == "CUDAExecutionProvider"
    np.testing.assert_array_equal(out["SUM"], a + a)
