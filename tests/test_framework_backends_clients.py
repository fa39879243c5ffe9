"""PyTorch and ONNX Runtime models served by a real ``tritoncore serve`` process, queried with
tritonclient over HTTP and gRPC, outputs compared with the framework run directly."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from serverproc import ServerProcess

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(image)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, net) -> Iterator[ServerProcess]:
    from onnx import TensorProto, helper

    repo = tmp_path_factory.mktemp("framework") / "models"
    (repo / "torch_net" / "1").mkdir(parents=True)
    torch.jit.script(net).save(str(repo / "torch_net" / "1" / "model.pt"))
    (repo / "torch_net" / "config.pbtxt").write_text("""
        platform: "pytorch_libtorch"
        max_batch_size: 16
        input [ { name: "image", data_type: TYPE_FP32, dims: [ 3, 8, 8 ] } ]
        output [ { name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ 3 ] } ]
        instance_group [ { count: 2, kind: KIND_CPU } ]
        dynamic_batching { }
    """)
    shape = ["batch", 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["A", "B"], ["SUM"]), helper.make_node("Mul", ["A", "B"], ["PROD"])],
        "g", [helper.make_tensor_value_info(n, TensorProto.INT64, shape) for n in "AB"],
        [helper.make_tensor_value_info(n, TensorProto.INT64, shape) for n in ("SUM", "PROD")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (repo / "onnx_math" / "1").mkdir(parents=True)
    onnx.save_model(model, str(repo / "onnx_math" / "1" / "model.onnx"))
    (repo / "torch_broken" / "1").mkdir(parents=True)
    (repo / "torch_broken" / "1" / "model.pt").write_bytes(b"not a model")
    (repo / "torch_broken" / "config.pbtxt").write_text(
        (repo / "torch_net" / "config.pbtxt").read_text())
    proc = ServerProcess(repo, "--exit-on-error=false", log_dir=repo.parent).start()
    yield proc
    proc.stop()


def test_torchscript_over_http_matches_torch_incl_concurrent_requests(server, net) -> None:
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((int(n), 3, 8, 8), dtype=np.float32)
              for n in rng.integers(1, 4, size=24)]
    client = httpclient.InferenceServerClient(server.http_url, concurrency=8)
    try:
        meta = client.get_model_metadata("torch_net")
        assert meta["platform"] == "pytorch_libtorch"
        assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 8, 8]}]
        pending = []
        for x in images:
            inp = httpclient.InferInput("image", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=True)
            pending.append(client.async_infer("torch_net", [inp]))
        outs = [p.get_result().as_numpy("OUTPUT__0") for p in pending]
    finally:
        client.close()
    with torch.no_grad():
        for x, out in zip(images, outs):
            np.testing.assert_allclose(out, net(torch.from_numpy(x)).numpy(), rtol=1e-5,
                                       atol=1e-6)


def test_onnx_over_grpc_is_exact_and_auto_completed(server) -> None:
    a = np.arange(8, dtype=np.int64).reshape(2, 4)
    b = np.full((2, 4), -3, dtype=np.int64)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        config = client.get_model_config("onnx_math", as_json=True)["config"]
        inputs = []
        for name, value in (("A", a), ("B", b)):
            inp = grpcclient.InferInput(name, list(value.shape), "INT64")
            inp.set_data_from_numpy(value)
            inputs.append(inp)
        result = client.infer("onnx_math", inputs)
    finally:
        client.close()
    assert config["max_batch_size"] == 4 and config["platform"] == "onnxruntime_onnx"
    np.testing.assert_array_equal(result.as_numpy("SUM"), a + b)
    np.testing.assert_array_equal(result.as_numpy("PROD"), a * b)


def test_a_broken_model_file_is_unavailable_with_its_reason(server) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        rows = {r["name"]: r for r in client.get_model_repository_index()}
        assert not client.is_model_ready("torch_broken")
        assert client.is_model_ready("torch_net")
    finally:
        client.close()
    assert rows["torch_broken"]["state"] == "UNAVAILABLE"
    assert "not a loadable TorchScript model" in rows["torch_broken"]["reason"]
