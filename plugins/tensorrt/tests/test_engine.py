"""Engine tests: build a tiny engine with the TensorRT builder and serve it. They need TensorRT
(>= 10), torch with CUDA and a GPU, none of which this repository's CI has: they skip there."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("tensorrt") is None:
    pytest.skip("tensorrt is not importable (NVIDIA's index only; pip install tensorrt)",
                allow_module_level=True)
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU", allow_module_level=True)

import tensorrt as trt
from tritoncore.options import ServerOptions
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor


def build_relu_plan(profiles: list[tuple[int, int, int]]) -> bytes:
    """y = relu(x), x: FP32 [-1, 4], one optimization profile per (min, opt, max) batch."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    x = network.add_input("x", trt.float32, (-1, 4))
    y = network.add_activation(x, trt.ActivationType.RELU).get_output(0)
    y.name = "y"
    network.mark_output(y)
    config = builder.create_builder_config()
    for lo, opt, hi in profiles:
        profile = builder.create_optimization_profile()
        profile.set_shape("x", (lo, 4), (opt, 4), (hi, 4))
        config.add_optimization_profile(profile)
    return bytes(builder.build_serialized_network(network, config))


def serve(tmp_path: Path, plan: bytes, config: str, body):  # type: ignore[no-untyped-def]
    model = tmp_path / "relu"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.plan").write_bytes(plan)
    (model / "config.pbtxt").write_text(config)

    async def go():  # type: ignore[no-untyped-def]
        server = Server(ServerOptions(model_repositories=[tmp_path], allow_http=False,
                                      allow_grpc=False, allow_metrics=False))
        await server.start()
        try:
            return await body(server)
        finally:
            await server.stop()

    return asyncio.run(go())


def test_auto_completed_engine_serves_and_batches(tmp_path: Path) -> None:
    async def body(server):  # type: ignore[no-untyped-def]
        assert server.model_config("relu")["max_batch_size"] == 8
        x = np.array([[-1, 2, -3, 4]], np.float32)
        out = await server.infer(InferenceRequest("relu", {"x": Tensor.from_numpy("x", x)}))
        return out.outputs[0].as_numpy()

    got = serve(tmp_path, build_relu_plan([(1, 4, 8)]), 'platform: "tensorrt_plan"\n', body)
    assert got.tolist() == [[0, 2, 0, 4]]


def test_shapes_outside_the_profile_are_invalid_arg(tmp_path: Path) -> None:
    async def body(server):  # type: ignore[no-untyped-def]
        x = np.zeros((3, 4), np.float32)
        with pytest.raises(Exception, match="outside"):
            await server.infer(InferenceRequest("relu", {"x": Tensor.from_numpy("x", x)}))

    serve(tmp_path, build_relu_plan([(1, 1, 2)]),
          'platform: "tensorrt_plan"\nmax_batch_size: 0\n'
          'input [ { name: "x", data_type: TYPE_FP32, dims: [ -1, 4 ] } ]\n'
          'output [ { name: "y", data_type: TYPE_FP32, dims: [ -1, 4 ] } ]\n', body)


def test_two_instances_use_two_profiles(tmp_path: Path) -> None:
    async def body(server):  # type: ignore[no-untyped-def]
        return [r.instance.execution.profile for r in server.model("relu").runners]

    profiles = serve(tmp_path, build_relu_plan([(1, 2, 4), (1, 2, 4)]),
                     'platform: "tensorrt_plan"\ninstance_group [ { count: 2, kind: KIND_GPU } ]\n',
                     body)
    assert profiles == [0, 1]
