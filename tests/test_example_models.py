"""The example repository's generated models (my_resnet, add_sub_onnx) serve and match their
framework run directly."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "model_repository"


def _generator():
    spec = importlib.util.spec_from_file_location("make_example_models",
                                                  ROOT / "scripts" / "make_example_models.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the two example models, generated where set-up has not built them."""
    path = tmp_path_factory.mktemp("examples")
    for name in ("my_resnet", "add_sub_onnx"):
        shutil.copytree(EXAMPLES / name, path / name)
    _generator().main(path)
    return path


def serve(repo: Path, body):
    async def go():
        server = Server(ServerOptions(model_repositories=[repo], allow_http=False,
                                      allow_grpc=False, allow_metrics=False),
                        PluginManager(), gpus=0)
        await server.start()
        try:
            return await body(server)
        finally:
            await server.stop()

    return asyncio.run(go())


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_my_resnet_serves_two_cpu_instances_and_matches_torch(repo: Path) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)

    async def body(server):
        config = server.model_config("my_resnet")
        response = await server.infer(InferenceRequest(
            "my_resnet", {"INPUT__0": Tensor.from_numpy("INPUT__0", x)}))
        return config, response.outputs[0].as_numpy()

    config, out = serve(repo, body)
    assert config["platform"] == "pytorch_libtorch" and config["max_batch_size"] == 16
    assert [(g["count"], g["kind"]) for g in config["instance_group"]] == [(2, "KIND_CPU")]
    module = torch.jit.load(str(repo / "my_resnet" / "1" / "model.pt"))
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert out.shape == (2, 1000)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_add_sub_onnx_is_auto_completed_and_exact(repo: Path) -> None:
    a = np.arange(8, dtype=np.int32).reshape(2, 4)
    b = np.full((2, 4), 5, dtype=np.int32)

    async def body(server):
        response = await server.infer(InferenceRequest("add_sub_onnx", {
            "A": Tensor.from_numpy("A", a), "B": Tensor.from_numpy("B", b)}))
        return server.model_config("add_sub_onnx"), {t.name: t.as_numpy()
                                                     for t in response.outputs}

    config, out = serve(repo, body)
    assert config["max_batch_size"] == 4 and [i["name"] for i in config["input"]] == ["A", "B"]
    np.testing.assert_array_equal(out["SUM"], a + b)
    np.testing.assert_array_equal(out["DIFF"], a - b)
