"""CUDA shared memory and GPU metrics without a GPU: validation, bounds, the data path's
decisions (with the device copies replaced by recorders), NVML formatting with a fake NVML.

The real thing runs on a GPU in test_cuda_shm_gpu.py (marked ``gpu``).
"""

from __future__ import annotations

import re
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tritoncore.backend import Model
from tritoncore.cli import build_parser, options_from_args
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontends import metrics, shm_io
from tritoncore.frontends.gpu_metrics import GpuSampler, format_value
from tritoncore.memory import copies, cuda_shm, devices, gpu, pinned_pool
from tritoncore.memory.cuda_shm import CudaSharedMemory
from tritoncore.plugins import PluginManager
from tritoncore.repository.version import stage_gpu_inputs
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import MemoryKind, Tensor

HANDLE = bytes(64)
# perf_analyzer reads GPU metrics lines as name{gpu_uuid="..."} value.
PERF_ANALYZER_LINE = re.compile(r'^(nv_\w+)\{gpu_uuid="([^"]+)"\} (\d+(?:\.\d+)?)$')


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Registration without a GPU: IPC open/close replaced by recorders."""
    events: list[str] = []
    monkeypatch.setattr(cuda_shm, "_open_ipc_handle",
                        lambda name, raw, dev: events.append(f"open {name}") or 0x7F0000)
    monkeypatch.setattr(cuda_shm, "_close_ipc_handle",
                        lambda region: events.append(f"close {region.name}"))
    return events


def error_of(fn: Any, *args: Any) -> TritonError:
    with pytest.raises(TritonError) as err:
        fn(*args)
    return err.value


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------

def test_registration_is_refused_while_client_shm_is_disabled() -> None:
    err = error_of(CudaSharedMemory(False, 1).register, "r", HANDLE, 0, 64)
    assert "--allow-client-shm=true" in err.message


@pytest.mark.parametrize("size", [0, 16, 63, 65, 128])
def test_raw_handles_must_be_64_bytes(size: int) -> None:
    err = error_of(CudaSharedMemory(True, 1).register, "r", bytes(size), 0, 64)
    assert err.code is ErrorCode.INVALID_ARG and f"64 bytes of a cudaIpcMemHandle_t, got {size}" \
        in err.message


def test_byte_size_must_be_positive() -> None:
    err = error_of(CudaSharedMemory(True, 1).register, "r", HANDLE, 0, 0)
    assert "byte_size must be > 0" in err.message


@pytest.mark.parametrize("device", [-1, 2, 7])
def test_device_ids_must_name_one_of_the_servers_gpus(device: int) -> None:
    err = error_of(CudaSharedMemory(True, 2).register, "r", HANDLE, device, 64)
    assert err.code is ErrorCode.INVALID_ARG
    assert f"device_id {device} is not one of this server's GPUs (0..1)" in err.message


def test_a_server_without_gpus_answers_unsupported() -> None:
    err = error_of(CudaSharedMemory(True, 0).register, "r", HANDLE, 0, 64)
    assert err.code is ErrorCode.UNSUPPORTED and "no GPU" in err.message


def test_handles_open_once_and_close_on_unregister(opened: list[str]) -> None:
    registry = CudaSharedMemory(True, 1)
    registry.register("a", HANDLE, 0, 64)
    registry.register("b", HANDLE, 0, 32)
    err = error_of(registry.register, "a", HANDLE, 0, 64)
    assert err.code is ErrorCode.ALREADY_EXISTS
    assert registry.status("a") == [{"name": "a", "device_id": 0, "byte_size": 64}]
    registry.unregister("a")
    registry.unregister()  # all (what shutdown does)
    assert opened == ["open a", "open b", "close a", "close b"]
    assert registry.status() == []


@pytest.mark.parametrize("offset, size", [(0, 65), (60, 8), (64, 1), (-4, 8), (0, -1)])
def test_locate_refuses_bytes_outside_the_region(opened: list[str], offset: int,
                                                  size: int) -> None:
    registry = CudaSharedMemory(True, 1)
    registry.register("a", HANDLE, 0, 64)
    err = error_of(registry.locate, "a", offset, size)
    assert err.code is ErrorCode.INVALID_ARG and "outside the region's 64 bytes" in err.message


def test_locate_gives_the_device_address(opened: list[str]) -> None:
    registry = CudaSharedMemory(True, 1)
    registry.register("a", HANDLE, 0, 64)
    region, pointer = registry.locate("a", 16, 48)
    assert (region.name, pointer) == ("a", 0x7F0000 + 16)
    err = error_of(registry.locate, "zz", 0, 4)
    assert err.code is ErrorCode.NOT_FOUND and "not registered" in err.message


# ---------------------------------------------------------------------------------------------
# the data path's decisions (device copies recorded, not made)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def server(opened: list[str]) -> Any:
    registry = CudaSharedMemory(True, 2)
    registry.register("in", HANDLE, 1, 64)
    registry.register("out", HANDLE, 1, 64)
    return SimpleNamespace(cuda_shm=registry, system_shm=SimpleNamespace(allowed=True))


@pytest.fixture
def device_ops(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def view(pointer: int, nbytes: int, device: int, dtype: Any, shape: Any, owner: Any) -> Any:
        calls.append(("view", pointer, nbytes, device))
        return np.zeros(shape, dtype)  # stands in for the cupy view

    def copy(pointer: int, device: int, source: Any, nbytes: int, on_device: bool) -> None:
        calls.append(("copy", pointer, device, nbytes, on_device))

    monkeypatch.setattr(gpu, "device_view", view)
    monkeypatch.setattr(gpu, "copy_to_device", copy)
    return calls


def test_a_cuda_region_input_becomes_a_gpu_tensor_without_a_copy(
        server: Any, device_ops: list[tuple[Any, ...]]) -> None:
    tensor = shm_io.input_from_shm(server, "X", "FP32", (2, 4), shm_io.ShmRef("in", 16, 32))
    assert (tensor.memory, tensor.device_id, tensor.shape) == (MemoryKind.GPU, 1, (2, 4))
    assert device_ops == [("view", 0x7F0000 + 16, 32, 1)]


@pytest.mark.parametrize("ref, message", [
    (shm_io.ShmRef("in", 0, 16), "needs 32 bytes, got 16"),
    (shm_io.ShmRef("in", 40, 32), "outside the region's 64 bytes"),
])
def test_cuda_region_inputs_are_checked(server: Any, device_ops: list[tuple[Any, ...]],
                                        ref: shm_io.ShmRef, message: str) -> None:
    err = error_of(shm_io.input_from_shm, server, "X", "FP32", (2, 4), ref)
    assert err.code is ErrorCode.INVALID_ARG and message in err.message
    assert device_ops == []


def test_bytes_tensors_are_refused_in_cuda_regions(server: Any,
                                                   device_ops: list[tuple[Any, ...]]) -> None:
    err = error_of(shm_io.input_from_shm, server, "S", "BYTES", (1,), shm_io.ShmRef("in", 0, 8))
    assert "use system shared memory" in err.message
    out = Tensor.from_numpy("S", np.array([b"ab"], dtype=np.object_))
    assert "use system shared memory" in error_of(
        shm_io.output_to_shm, server, out, shm_io.ShmRef("out", 0, 8)).message


def test_outputs_go_device_to_device_or_host_to_device(
        server: Any, device_ops: list[tuple[Any, ...]]) -> None:
    host = Tensor.from_numpy("Y", np.arange(4, dtype=np.float32))
    on_gpu = Tensor("Y", "FP32", (4,), object(), MemoryKind.GPU, 1)
    assert shm_io.output_to_shm(server, host, shm_io.ShmRef("out", 8, 32)) == 16
    assert shm_io.output_to_shm(server, on_gpu, shm_io.ShmRef("out", 0, 16)) == 16
    assert device_ops == [("copy", 0x7F0000 + 8, 1, 16, False),
                          ("copy", 0x7F0000, 1, 16, True)]


@pytest.mark.parametrize("ref, message", [
    (shm_io.ShmRef("out", 0, 8), "needs 16 bytes, but shared memory region 'out'"),
    (shm_io.ShmRef("out", 56, 16), "outside the region's 64 bytes"),
])
def test_outputs_are_bounds_checked(server: Any, device_ops: list[tuple[Any, ...]],
                                    ref: shm_io.ShmRef, message: str) -> None:
    host = Tensor.from_numpy("Y", np.arange(4, dtype=np.float32))
    assert message in error_of(shm_io.output_to_shm, server, host, ref).message
    assert device_ops == []


def test_only_cuda_destinations_ask_the_backend_for_device_outputs(server: Any) -> None:
    request = InferenceRequest("m", {})
    shm_io.want_on_device(server, request, "A", shm_io.ShmRef("out", 0, 8))
    shm_io.want_on_device(server, request, "B", shm_io.ShmRef("a-system-region", 0, 8))
    shm_io.want_on_device(server, request, "C", None)
    assert request.output_devices == {"A": 1}


def test_a_host_only_model_gets_one_counted_device_to_host_copy_per_gpu_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def to_host(data: Any) -> np.ndarray:
        copies.record(copies.DEVICE_TO_HOST, data.nbytes)
        return np.array(data)

    monkeypatch.setattr(gpu, "to_host", to_host)
    assert Model.accepts_gpu_inputs is False  # backends opt in
    gpu_in = Tensor("A", "FP32", (4,), np.ones(4, np.float32), MemoryKind.GPU, 0)
    cpu_in = Tensor.from_numpy("B", np.zeros(2, np.int32))
    request = InferenceRequest("m", {"A": gpu_in, "B": cpu_in})
    before = copies.snapshot()[copies.DEVICE_TO_HOST]
    stage_gpu_inputs(request)
    after = copies.snapshot()[copies.DEVICE_TO_HOST]
    assert (after[0] - before[0], after[1] - before[1]) == (1, 16)
    assert request.inputs["A"].memory is MemoryKind.CPU
    np.testing.assert_array_equal(request.inputs["A"].as_numpy(), np.ones(4, np.float32))
    assert request.inputs["B"] is cpu_in


def test_copy_counters_render_as_tritoncore_metrics() -> None:
    lines = metrics._copy_lines()
    assert "# TYPE tritoncore_memory_copy_count counter" in lines
    pattern = re.compile(r'^tritoncore_memory_copy_(count|bytes)\{direction="(device_to_host|'
                         r'host_to_device|device_to_device)"\} \d+$')
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) == 6 and all(pattern.match(line) for line in samples)


# ---------------------------------------------------------------------------------------------
# NVML metrics with a fake NVML
# ---------------------------------------------------------------------------------------------

class FakeNvml:
    """Just the pynvml calls GpuSampler makes, for two GPUs; GPU 1 has no power readings."""

    def __init__(self) -> None:
        self.energy_mj = [5_000_000, 1_000]
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-0000000{h}-aaaa-bbbb-cccc-dddddddddddd"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=37 if h == 0 else 0, memory=5)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(total=85520809984, used=2045116416, free=0)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        if h == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 120680  # mW

    def nvmlDeviceGetPowerManagementLimit(self, h: int) -> int:
        if h == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 700000

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        return self.energy_mj[h]

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return (9, 0) if h == 0 else (5, 2)


def test_gpu_metrics_in_tritons_format_with_a_fake_nvml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    sampler = GpuSampler(nvml)
    nvml.energy_mj[0] += 1500  # 1.5 J since the server started
    sampler.sample()
    lines = sampler.lines()
    uuid0 = "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd"
    uuid1 = "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd"
    assert "# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)" in lines
    assert "# TYPE nv_energy_consumption counter" in lines
    assert "# TYPE nv_gpu_power_usage gauge" in lines
    values = {}
    for line in lines:
        if line.startswith("#"):
            continue
        match = PERF_ANALYZER_LINE.match(line)
        assert match, line
        values[(match.group(1), match.group(2))] = match.group(3)
    assert values[("nv_gpu_utilization", uuid0)] == "0.37"
    assert values[("nv_gpu_memory_total_bytes", uuid0)] == "85520809984"
    assert values[("nv_gpu_memory_used_bytes", uuid1)] == "2045116416"
    assert values[("nv_gpu_power_usage", uuid0)] == "120.68"
    assert values[("nv_gpu_power_limit", uuid0)] == "700"
    assert values[("nv_energy_consumption", uuid0)] == "1.5"
    assert values[("nv_energy_consumption", uuid1)] == "0"
    assert ("nv_gpu_power_usage", uuid1) not in values  # no reading: no line, no error
    sampler.close()
    assert nvml.shutdowns == 1


def test_gpu_metrics_follow_cuda_visible_devices_with_a_fake_nvml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    sampler = GpuSampler(FakeNvml())
    assert [uuid for uuid, _ in sampler.devices] == ["GPU-00000001-aaaa-bbbb-cccc-dddddddddddd"]


def test_gpu_metrics_are_absent_quietly_without_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert GpuSampler.create() is None


@pytest.mark.parametrize("value, text", [(0.0, "0"), (1e-05, "0.00001"), (120.68, "120.68"),
                                         (85520809984.0, "85520809984"), (0.123456789, "0.123457")])
def test_metric_values_never_use_exponent_notation(value: float, text: str) -> None:
    assert format_value(value) == text


def test_min_compute_capability_stops_at_an_older_gpu_with_a_fake_nvml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert devices.gpu_count() == 2
    assert devices.gpu_count(6.0) == 1  # GPU 1 is 5.2
    assert devices.gpu_count(9.5) == 0


# ---------------------------------------------------------------------------------------------
# flags
# ---------------------------------------------------------------------------------------------

def parse(*flags: str) -> Any:
    parser = build_parser(PluginManager())
    return options_from_args(parser.parse_args(["serve", "--model-repository", ".", *flags]),
                             parser)


def test_gpu_memory_flags_take_tritons_names_and_defaults() -> None:
    extra = parse().extra
    assert extra["pinned_memory_pool_byte_size"] == 268435456
    assert extra["cuda_memory_pool_byte_size"] == []
    assert extra["min_supported_compute_capability"] == 6.0
    assert extra["allow_gpu_metrics"] is True
    extra = parse("--pinned-memory-pool-byte-size", "0", "--cuda-memory-pool-byte-size",
                  "0:67108864", "--cuda-memory-pool-byte-size", "1:0",
                  "--min-supported-compute-capability", "7.5",
                  "--allow-gpu-metrics", "false").extra
    assert extra["cuda_memory_pool_byte_size"] == [(0, 67108864), (1, 0)]
    assert extra["min_supported_compute_capability"] == 7.5
    assert extra["allow_gpu_metrics"] is False


def test_a_bad_cuda_pool_flag_says_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--cuda-memory-pool-byte-size", "64MB")
    assert "expected <device>:<bytes>" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the pinned memory pool (host memory standing in for page-locked memory)
# ---------------------------------------------------------------------------------------------

def host_pool(size: int) -> pinned_pool.PinnedPool:
    return pinned_pool.PinnedPool(size, allocate=lambda n: np.zeros(n, np.uint8))


def test_pinned_pool_carves_aligned_blocks_and_merges_them_back() -> None:
    pool = host_pool(1024)
    a, b, c = pool.acquire(10), pool.acquire(256), pool.acquire(300)
    assert a is not None and b is not None and c is not None
    assert (a.offset, b.offset, c.offset, pool.used_bytes) == (0, 256, 512, 1024)
    assert pool.acquire(1) is None  # full: the caller falls back to its own memory
    a.array(np.float32, (2,))[:] = [1.5, 2.5]
    assert a.array(np.float32, (2,)).tolist() == [1.5, 2.5]
    b.release()
    a.release()
    a.release()  # twice is harmless
    big = pool.acquire(512)  # the two freed neighbours merged
    assert big is not None and big.offset == 0
    c.release()
    big.release()
    assert pool.used_bytes == 0 and pool.acquire(1024) is not None


def test_pinned_pool_without_a_gpu_or_with_size_0_gives_nothing() -> None:
    assert pinned_pool.PinnedPool(1024, allocate=lambda n: None).acquire(16) is None
    assert host_pool(0).acquire(16) is None
    assert host_pool(64).acquire(65) is None


def test_pinned_pool_metrics_have_tritons_names() -> None:
    pool = pinned_pool.configure(4096)
    text = "\n".join(metrics._pinned_lines())
    assert "# HELP nv_pinned_memory_pool_total_bytes Pinned memory pool total memory size, " \
           "in bytes" in text
    assert "nv_pinned_memory_pool_total_bytes 4096" in text
    assert "nv_pinned_memory_pool_used_bytes 0" in text
    assert pool is pinned_pool.pool()
