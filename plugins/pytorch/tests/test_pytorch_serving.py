"""The PyTorch backend serving real TorchScript / torch.export models, compared with torch."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_serving import infer, repo_fixture, request, serve, write_model  # noqa: F401
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import MemoryKind, Tensor

# torch.jit is deprecated upstream but is what Triton's PyTorch backend serves.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


class AddSub(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, a - b


class SmallNet(torch.nn.Module):
    """Conv, batch norm, pooling, linear: float math where tolerances matter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(image)))
        return self.fc(x.mean(dim=(2, 3)))


ADDSUB = """
name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: 8
input [
  {{ name: "INPUT__0", data_type: {t}, dims: [ 4 ] }},
  {{ name: "INPUT__1", data_type: {t}, dims: [ 4 ] }}
]
output [
  {{ name: "OUTPUT__0", data_type: {t}, dims: [ 4 ] }},
  {{ name: "OUTPUT__1", data_type: {t}, dims: [ 4 ] }}
]
instance_group [ {{ kind: KIND_CPU }} ]
"""

SMALLNET = """
name: "{name}"
platform: "pytorch"
max_batch_size: 16
input [ {{ name: "image", data_type: TYPE_FP32, dims: [ 3, 8, 8 ] }} ]
output [ {{ name: "logits", data_type: TYPE_FP32, dims: [ 5 ] }} ]
instance_group [ {{ count: 2, kind: KIND_AUTO }} ]
{extra}
"""


def smallnet() -> torch.nn.Module:
    torch.manual_seed(0)
    net = SmallNet().eval()
    with torch.no_grad():  # non-trivial running stats so batch norm matters
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net


def test_scripted_model_matches_torch_exactly(repo: Path) -> None:
    module = torch.jit.script(AddSub())
    write_model(repo, "addsub", ADDSUB.format(name="addsub", t="TYPE_FP32"), module)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4), dtype=np.float32)
    b = rng.standard_normal((3, 4), dtype=np.float32)

    async def body(server):
        return await infer(server, "addsub", INPUT__0=a, INPUT__1=b)

    out = serve(repo, body)
    want = module(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_array_equal(out["OUTPUT__0"], want[0].numpy())
    np.testing.assert_array_equal(out["OUTPUT__1"], want[1].numpy())


@pytest.mark.parametrize("datatype", ["INT8", "INT16", "INT32", "INT64", "UINT8", "FP16",
                                      "FP64", "BF16"])
def test_every_numeric_type_round_trips_exactly(repo: Path, datatype: str) -> None:
    from tritoncore_pytorch.torch_types import TORCH_DTYPES, to_numpy

    module = torch.jit.script(AddSub())
    write_model(repo, "m", ADDSUB.format(name="m", t=f"TYPE_{datatype}"), module)
    dtype = TORCH_DTYPES[datatype]
    a = torch.arange(8, dtype=torch.int64).reshape(2, 4).to(dtype)
    b = torch.full((2, 4), 3, dtype=torch.int64).to(dtype)
    ta = Tensor("INPUT__0", datatype, (2, 4), to_numpy(a))
    tb = Tensor("INPUT__1", datatype, (2, 4), to_numpy(b))

    async def body(server):
        response = await server.infer(InferenceRequest("m", {"INPUT__0": ta, "INPUT__1": tb}))
        return {t.name: t for t in response.outputs}

    out = serve(repo, body)
    s, d = module(a, b)
    assert out["OUTPUT__0"].datatype == datatype
    np.testing.assert_array_equal(out["OUTPUT__0"].as_numpy(), to_numpy(s))
    np.testing.assert_array_equal(out["OUTPUT__1"].as_numpy(), to_numpy(d))


class BoolOps(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"both": x & y, "either": x | y}


def test_bool_inputs_and_dict_outputs_by_name(repo: Path) -> None:
    module = torch.jit.script(BoolOps())
    write_model(repo, "logic", """
        name: "logic"
        backend: "pytorch"
        max_batch_size: 4
        input [ { name: "y", data_type: TYPE_BOOL, dims: [ 3 ] },
                { name: "x", data_type: TYPE_BOOL, dims: [ 3 ] } ]
        output [ { name: "either", data_type: TYPE_BOOL, dims: [ 3 ] },
                 { name: "both", data_type: TYPE_BOOL, dims: [ 3 ] } ]
        instance_group [ { kind: KIND_CPU } ]
    """, module)
    x = np.array([[True, True, False]])
    y = np.array([[True, False, False]])

    async def body(server):
        return await infer(server, "logic", x=x, y=y)

    out = serve(repo, body)
    assert out["both"].tolist() == [[True, False, False]]
    assert out["either"].tolist() == [[True, True, False]]


def test_traced_model_batches_and_concurrent_load_match_torch(repo: Path) -> None:
    net = smallnet()
    traced = torch.jit.trace(net, torch.zeros(2, 3, 8, 8))
    write_model(repo, "net", SMALLNET.format(name="net", extra=""), traced)
    rng = np.random.default_rng(2)
    images = [rng.standard_normal((int(n), 3, 8, 8), dtype=np.float32)
              for n in rng.integers(1, 5, size=48)]

    async def body(server):
        return await asyncio.gather(*(infer(server, "net", image=x) for x in images))

    outs = serve(repo, body)
    with torch.no_grad():
        for x, out in zip(images, outs):
            want = net(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(out["logits"], want, rtol=1e-5, atol=1e-5)


def test_one_execute_with_several_requests_runs_one_batch(repo: Path) -> None:
    net = smallnet()
    scripted = torch.jit.script(net)
    write_model(repo, "net", SMALLNET.format(name="net", extra=""), scripted)
    rng = np.random.default_rng(3)
    sizes = [1, 3, 2, 5]
    images = [rng.standard_normal((n, 3, 8, 8), dtype=np.float32) for n in sizes]

    async def body(server):
        instance = server.model("net").runners[0].instance
        calls = []
        original = instance.module

        def counting(*args):
            calls.append(args[0].shape[0])
            return original(*args)

        instance.module = counting
        requests = [request("net", image=x) for x in images]
        responses = await asyncio.to_thread(instance.execute, requests)
        instance.module = original
        return calls, responses

    calls, responses = serve(repo, body)
    assert calls == [sum(sizes)]  # one forward for the whole batch
    with torch.no_grad():
        for x, response in zip(images, responses):
            assert response.error is None
            (logits,) = response.outputs
            assert logits.shape == (x.shape[0], 5)
            np.testing.assert_allclose(logits.as_numpy(), net(torch.from_numpy(x)).numpy(),
                                       rtol=1e-5, atol=1e-5)


def test_requests_with_different_shapes_in_one_execute_run_separately(repo: Path) -> None:
    module = torch.jit.script(AddSub())
    write_model(repo, "var", """
        name: "var"
        platform: "pytorch_libtorch"
        max_batch_size: 8
        input [ { name: "a", data_type: TYPE_INT32, dims: [ -1 ] },
                { name: "b", data_type: TYPE_INT32, dims: [ -1 ] } ]
        output [ { name: "OUTPUT__0", data_type: TYPE_INT32, dims: [ -1 ] },
                 { name: "OUTPUT__1", data_type: TYPE_INT32, dims: [ -1 ] } ]
        instance_group [ { kind: KIND_CPU } ]
    """, module)
    shapes = [(1, 2), (2, 3), (1, 2)]
    arrays = [np.arange(np.prod(s), dtype=np.int32).reshape(s) for s in shapes]

    async def body(server):
        instance = server.model("var").runners[0].instance
        requests = [request("var", a=x, b=x * 10, outputs=["OUTPUT__1"]) for x in arrays]
        return await asyncio.to_thread(instance.execute, requests)

    responses = serve(repo, body)
    for x, response in zip(arrays, responses):
        assert [t.name for t in response.outputs] == ["OUTPUT__1"]
        np.testing.assert_array_equal(response.outputs[0].as_numpy(), x - x * 10)


def test_export_program_pt2_with_dynamic_batch(repo: Path) -> None:
    net = smallnet()
    batch = torch.export.Dim("batch", min=1, max=16)
    program = torch.export.export(net, (torch.zeros(2, 3, 8, 8),),
                                  dynamic_shapes={"image": {0: batch}})
    write_model(repo, "exported", SMALLNET.format(
        name="exported", extra='default_model_filename: "model.pt2"'), program,
        filename="model.pt2")
    x = np.random.default_rng(4).standard_normal((3, 3, 8, 8), dtype=np.float32)

    async def body(server):
        return await infer(server, "exported", image=x)

    out = serve(repo, body)
    with torch.no_grad():
        np.testing.assert_allclose(out["logits"], net(torch.from_numpy(x)).numpy(),
                                   rtol=1e-5, atol=1e-5)


class Scaled(torch.nn.Module):
    def forward(self, values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return values * scale


def test_reshape_and_no_batching(repo: Path) -> None:
    module = torch.jit.script(Scaled())
    write_model(repo, "scaled", """
        name: "scaled"
        platform: "pytorch_libtorch"
        input [ { name: "scale", data_type: TYPE_FP32, dims: [ 1 ], reshape: { shape: [ ] } },
                { name: "values", data_type: TYPE_FP32, dims: [ 2, 3 ] } ]
        output [ { name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ 6 ],
                   reshape: { shape: [ 2, 3 ] } } ]
        instance_group [ { kind: KIND_CPU } ]
    """, module)
    values = np.arange(6, dtype=np.float32).reshape(2, 3)

    async def body(server):
        return await infer(server, "scaled", values=values, scale=np.array([2], np.float32))

    out = serve(repo, body)
    assert out["OUTPUT__0"].tolist() == [0, 2, 4, 6, 8, 10]


def test_parameters_are_accepted_and_served(repo: Path) -> None:
    module = torch.jit.script(AddSub())
    params = "\n".join(
        f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}' for k, v in {
            "INFERENCE_MODE": "false", "DISABLE_OPTIMIZED_EXECUTION": "true",
            "ENABLE_CACHE_CLEANING": "true", "ENABLE_WEIGHT_SHARING": "true",
            "ENABLE_JIT_EXECUTOR": "true", "ENABLE_JIT_PROFILING": "true",
        }.items())
    write_model(repo, "p", ADDSUB.format(name="p", t="TYPE_INT64")
                .replace("kind: KIND_CPU }", "count: 2, kind: KIND_CPU }") + params, module)
    a = np.arange(8, dtype=np.int64).reshape(2, 4)

    async def body(server):
        loaded = server.model("p")
        shared = loaded.runners[0].instance.module is loaded.runners[1].instance.module
        return shared, await infer(server, "p", INPUT__0=a, INPUT__1=a)

    shared, out = serve(repo, body)
    assert shared  # ENABLE_WEIGHT_SHARING: one module for both CPU instances
    np.testing.assert_array_equal(out["OUTPUT__0"], a * 2)


def test_output_type_that_disagrees_with_config_is_a_clear_error(repo: Path) -> None:
    module = torch.jit.script(AddSub())
    write_model(repo, "wrong", ADDSUB.format(name="wrong", t="TYPE_FP32")
                .replace('"OUTPUT__1", data_type: TYPE_FP32', '"OUTPUT__1", data_type: TYPE_FP64'),
                module)
    a = np.zeros((1, 4), np.float32)

    async def body(server):
        with pytest.raises(Exception) as info:
            await infer(server, "wrong", INPUT__0=a, INPUT__1=a)
        return str(info.value)

    message = serve(repo, body)
    assert "output 'OUTPUT__1' is FP32, but the config says FP64" in message


# ----------------------------------------------------------------------------------------------
# models that cannot load: UNAVAILABLE with a reason that says why; the others still serve
# ----------------------------------------------------------------------------------------------


def _reasons(repo: Path) -> dict[str, str]:
    async def body(server):
        assert server.model_ready("good")
        return {row["name"]: row["reason"] for row in server.repository_index()
                if row["state"] == "UNAVAILABLE"}

    write_model(repo, "good", ADDSUB.format(name="good", t="TYPE_FP32"),
                torch.jit.script(AddSub()))
    return serve(repo, body, exit_on_error=False)


def test_bad_model_files_make_the_model_unavailable_with_a_reason(repo: Path, tmp_path: Path) -> None:
    config = ADDSUB.format(name="{n}", t="TYPE_FP32")
    write_model(repo, "missing", config.replace("{n}", "missing"))
    write_model(repo, "corrupt", config.replace("{n}", "corrupt"), b"\x00not a model at all")
    write_model(repo, "empty", config.replace("{n}", "empty"), b"")
    torch.save(AddSub().state_dict(), tmp_path / "weights.pt")
    write_model(repo, "weights", config.replace("{n}", "weights"),
                (tmp_path / "weights.pt").read_bytes())
    program = torch.export.export(AddSub(), (torch.zeros(1, 4), torch.zeros(1, 4)))
    torch.export.save(program, str(tmp_path / "p.pt2"))
    write_model(repo, "exported", config.replace("{n}", "exported"),
                (tmp_path / "p.pt2").read_bytes())
    write_model(repo, "strings", config.replace("{n}", "strings").replace(
        'INPUT__1", data_type: TYPE_FP32', 'INPUT__1", data_type: TYPE_STRING'),
        torch.jit.script(AddSub()))
    write_model(repo, "badname", config.replace("{n}", "badname").replace("INPUT__1", "other"),
                torch.jit.script(AddSub()))
    write_model(repo, "gpu", config.replace("{n}", "gpu").replace("KIND_CPU", "KIND_GPU"),
                torch.jit.script(AddSub()))

    reasons = _reasons(repo)
    assert "model file" in reasons["missing"] and "does not exist" in reasons["missing"]
    assert "not a loadable TorchScript model" in reasons["corrupt"]
    assert "not a PyTorch archive" in reasons["corrupt"]
    assert "the file is empty" in reasons["empty"]
    assert "written by torch.save" in reasons["weights"]
    assert "torch.export program; name it model.pt2" in reasons["exported"]
    assert "input 'INPUT__1' is BYTES, which the PyTorch backend does not support" \
        in reasons["strings"]
    assert "input 'other' is not an argument of forward(a, b)" in reasons["badname"]
    if torch.cuda.device_count() == 0:
        assert "KIND_GPU" in reasons["gpu"] and "no GPU" in reasons["gpu"]


# ----------------------------------------------------------------------------------------------
# GPU
# ----------------------------------------------------------------------------------------------

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_gpu
def test_gpu_instance_with_gpu_inputs_via_dlpack(repo: Path) -> None:
    net = smallnet()
    write_model(repo, "net", SMALLNET.format(name="net", extra="").replace(
        "KIND_AUTO", "KIND_GPU"), torch.jit.script(net))
    x = torch.randn(4, 3, 8, 8)

    async def body(server):
        instance = server.model("net").runners[0].instance
        on_gpu = Tensor("image", "FP32", tuple(x.shape), x.cuda(), memory=MemoryKind.GPU)
        host = await infer(server, "net", image=x.numpy())
        device = await infer(server, "net", image=on_gpu)
        return instance, host, device

    instance, host, device = serve(repo, body)
    assert instance.device.type == "cuda" and isinstance(instance.stream, torch.cuda.Stream)
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(host["logits"], want, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(device["logits"], want, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@needs_gpu
def test_gpu_fp16_model(repo: Path) -> None:
    net = smallnet().half().cuda()
    write_model(repo, "half", SMALLNET.format(name="half", extra="").replace(
        "TYPE_FP32", "TYPE_FP16").replace("KIND_AUTO", "KIND_GPU"), torch.jit.script(net))
    x = torch.randn(2, 3, 8, 8).half()

    async def body(server):
        return await infer(server, "half", image=x.numpy())

    out = serve(repo, body)
    with torch.no_grad():
        want = net(x.cuda()).cpu().numpy()
    np.testing.assert_allclose(out["logits"], want, rtol=1e-2, atol=1e-2)


@pytest.mark.gpu
@needs_gpu
def test_gpu_outputs_stay_on_the_device_when_the_client_wants_them_there(repo: Path) -> None:
    # A CUDA shared-memory destination sets request.output_devices: the output comes back as
    # a GPU tensor (no device-to-host copy); other outputs still come back in host memory.
    from tritoncore.memory import copies

    net = smallnet()
    write_model(repo, "netd", SMALLNET.format(name="netd", extra="").replace(
        "KIND_AUTO", "KIND_GPU"), torch.jit.script(net))
    x = torch.randn(2, 3, 8, 8)

    async def body(server):
        on_device = request("netd", None, image=x.numpy())
        on_device.output_devices["logits"] = 0
        before = copies.snapshot()[copies.DEVICE_TO_HOST][0]
        gpu_out = (await server.infer(on_device)).outputs[0]
        after = copies.snapshot()[copies.DEVICE_TO_HOST][0]
        host_out = (await server.infer(request("netd", None, image=x.numpy()))).outputs[0]
        last = copies.snapshot()[copies.DEVICE_TO_HOST][0]
        return gpu_out, host_out, after - before, last - after

    gpu_out, host_out, d2h_gpu, d2h_host = serve(repo, body)
    assert gpu_out.memory is MemoryKind.GPU and gpu_out.data.device.type == "cuda"
    assert host_out.memory is MemoryKind.CPU
    assert (d2h_gpu, d2h_host) == (0, 1)
    # host inputs for the GPU instance were staged through the server's pinned pool
    from tritoncore.memory import pinned_pool

    assert pinned_pool.pool().buffer is not None and pinned_pool.pool().used_bytes == 0
    np.testing.assert_allclose(gpu_out.data.cpu().numpy(), host_out.as_numpy(), rtol=1e-5)


def test_auto_complete_is_skipped_with_a_warning_as_in_triton(repo: Path, caplog) -> None:
    write_model(repo, "addsub", ADDSUB.format(name="addsub", t="TYPE_INT32"),
                torch.jit.script(AddSub()))
    write_model(repo, "bare", 'platform: "pytorch_libtorch"', torch.jit.script(AddSub()))
    caplog.set_level(logging.WARNING, logger="tritoncore_pytorch.backend")

    async def body(server):
        reasons = {row["name"]: row.get("reason", "") for row in server.repository_index()}
        return server.model_config("addsub"), reasons

    config, reasons = serve(repo, body, exit_on_error=False)
    assert sorted(r.getMessage() for r in caplog.records
                  if r.name == "tritoncore_pytorch.backend") == [
        f"skipping model configuration auto-complete for '{name}': not supported by the pytorch "
        "backend (list inputs and outputs in config.pbtxt)" for name in ("addsub", "bare")]
    assert config["max_batch_size"] == 8 and "dynamic_batching" not in config
    assert [(i["name"], i["dims"]) for i in config["input"]] == [("INPUT__0", [4]),
                                                                ("INPUT__1", [4])]
    assert reasons["bare"] == ("model 'bare': forward needs argument(s) a, b, which no config "
                               "input binds to; add inputs with those names (or __<index> names)")


def test_no_auto_complete_warning_when_it_is_disabled(repo: Path, caplog) -> None:
    write_model(repo, "addsub", ADDSUB.format(name="addsub", t="TYPE_INT32"),
                torch.jit.script(AddSub()))
    caplog.set_level(logging.WARNING, logger="tritoncore_pytorch.backend")

    async def body(server):
        return server.model_ready("addsub")

    assert serve(repo, body, disable_auto_complete_config=True)
    assert [r for r in caplog.records if r.name == "tritoncore_pytorch.backend"] == []


def test_copy_rows_writes_each_requests_bytes_in_order() -> None:
    from tritoncore_pytorch.instance import copy_rows

    for np_type, dtype in [(np.float16, torch.float16), (np.bool_, torch.bool),
                           (np.uint16, torch.bfloat16), (np.int64, torch.int64)]:
        arrays = [(np.arange(n * 6).reshape(n, 2, 3) % 7).astype(np_type) for n in (1, 3, 2)]
        out = torch.empty((6, 2, 3), dtype=dtype)
        copy_rows(out, arrays)
        got = out.view(torch.int16).numpy().view(np.uint16) if dtype == torch.bfloat16 \
            else out.numpy()
        assert got.tobytes() == np.concatenate(arrays).tobytes()


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("datatype", ["INT64", "FP16", "BF16"])
def test_gpu_batch_of_host_requests_is_exact(repo: Path, datatype: str) -> None:
    # Several host requests in one execute: gathered into one pinned buffer, one upload.
    from tritoncore.memory import pinned_pool

    write_model(repo, "gadd", ADDSUB.format(name="gadd", t=f"TYPE_{datatype}").replace(
        "KIND_CPU", "KIND_GPU"), torch.jit.script(AddSub()))
    rng = np.random.default_rng(3)
    np_type = {"INT64": np.int64, "FP16": np.float16, "BF16": np.uint16}[datatype]
    pairs = [(rng.integers(0, 2**14, (n, 4)).astype(np_type),
              rng.integers(0, 2**14, (n, 4)).astype(np_type)) for n in (1, 3, 2)]

    async def body(server):
        instance = server.model("gadd").runners[0].instance
        requests = [InferenceRequest("gadd", {
            "INPUT__0": Tensor.from_numpy("INPUT__0", a, datatype),
            "INPUT__1": Tensor.from_numpy("INPUT__1", b, datatype)}) for a, b in pairs]
        return await asyncio.to_thread(instance.execute, requests)

    responses = serve(repo, body)
    assert pinned_pool.pool().used_bytes == 0
    dtype = {"INT64": torch.int64, "FP16": torch.float16, "BF16": torch.bfloat16}[datatype]
    for (a, b), response in zip(pairs, responses):
        ta, tb = (torch.from_numpy(v).view(dtype).cuda() for v in (a, b))
        for output, want in zip(response.outputs, (ta + tb, ta - tb)):
            assert output.datatype == datatype
            want = want.cpu().view(torch.int16).numpy().view(np.uint16) \
                if dtype == torch.bfloat16 else want.cpu().numpy()
            assert output.as_numpy().tobytes() == want.tobytes()
