"""Helpers: write ONNX models into a repository, serve it in-process, infer."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor

T = TypeVar("T")
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(name="repo")
def repo_fixture(tmp_path: Path) -> Path:
    """An empty model repository."""
    path = tmp_path / "models"
    path.mkdir()
    return path


def graph_model(nodes: list[Any], inputs: list[tuple[str, int, list[Any]]],
                outputs: list[tuple[str, int, list[Any]]], opset: int = 17,
                initializers: list[onnx.TensorProto] | None = None) -> onnx.ModelProto:
    """A checked ONNX model from ``onnx.helper`` nodes and (name, TensorProto type, shape)."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def add_sub(elem: int = TensorProto.INT32, shape: list[Any] | None = None) -> onnx.ModelProto:
    """SUM = A + B, DIFF = A - B."""
    shape = shape or ["batch", 4]
    return graph_model(
        [helper.make_node("Add", ["A", "B"], ["SUM"]), helper.make_node("Sub", ["A", "B"], ["DIFF"])],
        [("A", elem, shape), ("B", elem, shape)], [("SUM", elem, shape), ("DIFF", elem, shape)])


def write_model(repo: Path, name: str, model: onnx.ModelProto | bytes | None,
                config: str | None = None, version: int = 1) -> Path:
    """``<repo>/<name>/<version>/model.onnx`` and, if given, ``config.pbtxt``."""
    model_dir = repo / name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    if config is not None:
        (model_dir / "config.pbtxt").write_text(textwrap.dedent(config))
    target = model_dir / str(version) / "model.onnx"
    if isinstance(model, bytes):
        target.write_bytes(model)
    elif model is not None:
        onnx.save_model(model, str(target))
    return model_dir


def make_server(repo: Path, gpus: int = 0, **options: Any) -> Server:
    opts = ServerOptions(model_repositories=[repo], allow_http=False, allow_grpc=False,
                         allow_metrics=False, **options)
    return Server(opts, PluginManager(), gpus=gpus)


def request(model: str, outputs: list[str] | None = None, **arrays: Any) -> InferenceRequest:
    return InferenceRequest(model, {n: v if isinstance(v, Tensor) else Tensor.from_numpy(n, v)
                                    for n, v in arrays.items()}, requested_outputs=outputs)


async def infer(server: Server, model: str, outputs: list[str] | None = None,
                **arrays: Any) -> dict[str, np.ndarray]:
    response = await server.infer(request(model, outputs, **arrays))
    return {t.name: t.as_numpy() for t in response.outputs}


def serve(repo: Path, body: Callable[[Server], Awaitable[T]], **options: Any) -> T:
    async def go() -> T:
        server = make_server(repo, **options)
        await server.start()
        try:
            return await body(server)
        finally:
            await server.stop()

    return asyncio.run(go())


def run_direct(model: onnx.ModelProto | Path, **feed: np.ndarray) -> dict[str, np.ndarray]:
    """The same model run by onnxruntime directly."""
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed)))
