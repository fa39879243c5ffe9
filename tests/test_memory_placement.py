"""Outputs placed into the client's shared memory before the response, large copies off the
event loop and in order, and host/device copies staged through the pinned pool (whose blocks
go back at once). Without a GPU: cupy is replaced by a fake whose "device" is host memory.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Self

import numpy as np
import pytest
from conftest import make_server, params, write_model
from tritoncore.frontends import shm_io
from tritoncore.memory import copies, destinations, gpu, pinned_pool, placement
from tritoncore.memory.destinations import ShmRef
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import MemoryKind, Tensor

BIG = placement.INLINE_BYTES // 4  # FP32 elements in a copy that leaves the calling thread


# ---------------------------------------------------------------------------------------------
# a fake cupy: "device" arrays are host arrays, copies are memmove
# ---------------------------------------------------------------------------------------------

class FakeDeviceArray:
    """Stands in for a cupy array: a device pointer, dtype, shape, DLPack's device query."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array)
        self.data = SimpleNamespace(ptr=self.array.ctypes.data)
        self.nbytes, self.dtype, self.shape = self.array.nbytes, self.array.dtype, self.array.shape

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, 0)  # kDLCUDA, device 0


class _Context:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ptr = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def synchronize(self) -> None:
        pass


def _memcpy(dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
    ctypes.memmove(dst, src, nbytes)


FAKE_CUPY = SimpleNamespace(
    ndarray=FakeDeviceArray,
    ascontiguousarray=lambda a: a,
    cuda=SimpleNamespace(Device=_Context, Stream=_Context,
                         runtime=SimpleNamespace(memcpyAsync=_memcpy)),
)


@pytest.fixture
def host_pool() -> Iterator[tuple[pinned_pool.PinnedPool, list[int]]]:
    """This process's pinned pool, in plain host memory, recording every block it gives."""
    saved = pinned_pool._pool
    pool = pinned_pool.PinnedPool(1 << 20, allocate=lambda n: np.zeros(n, np.uint8))
    given: list[int] = []
    acquire = pool.acquire

    def recording(nbytes: int) -> pinned_pool.PinnedBlock | None:
        block = acquire(nbytes)
        if block is not None:
            given.append(nbytes)
        return block

    pool.acquire = recording  # type: ignore[method-assign]
    pinned_pool._pool = pool
    yield pool, given
    pinned_pool._pool = saved


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "cupy_module", lambda: FAKE_CUPY)
    monkeypatch.setattr(gpu, "_streams", {})


def test_downloads_are_staged_through_the_pinned_pool_and_the_block_goes_back_at_once(
        host_pool: Any, fake_cupy: None) -> None:
    pool, given = host_pool
    values = np.arange(1000, dtype=np.float32).reshape(10, 100)
    before = copies.snapshot()[copies.DEVICE_TO_HOST]
    host = gpu.to_host(FakeDeviceArray(values))
    after = copies.snapshot()[copies.DEVICE_TO_HOST]
    np.testing.assert_array_equal(host, values)
    assert (host.dtype, host.shape) == (np.float32, (10, 100))
    assert given == [4000] and pool.used_bytes == 0
    assert not pool.holds(host)  # the bytes were copied out of the block
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4000)
    target = np.zeros(4000, np.uint8)  # e.g. a client's system shm region
    gpu.to_host(FakeDeviceArray(values), out=target)
    np.testing.assert_array_equal(target.view(np.float32), values.reshape(-1))
    assert given == [4000, 4000] and pool.used_bytes == 0


def test_uploads_to_a_device_address_are_staged_through_the_pinned_pool(
        host_pool: Any, fake_cupy: None) -> None:
    pool, given = host_pool
    device = np.zeros(64, np.uint8)
    data = np.arange(16, dtype=np.float32)
    gpu.copy_to_device(device.ctypes.data, 0, memoryview(data).cast("B"), 64, on_device=False)
    np.testing.assert_array_equal(device.view(np.float32), data)
    assert given == [64] and pool.used_bytes == 0
    other = np.zeros(64, np.uint8)
    gpu.copy_to_device(other.ctypes.data, 0, FakeDeviceArray(data), 64, on_device=True)
    np.testing.assert_array_equal(other.view(np.float32), data)
    assert given == [64]  # device to device: no staging


def test_a_full_pool_means_a_direct_copy(host_pool: Any, fake_cupy: None) -> None:
    pool, given = host_pool
    hog = pool.acquire(1 << 20)
    values = np.arange(8, dtype=np.int64)
    np.testing.assert_array_equal(gpu.to_host(FakeDeviceArray(values)), values)
    assert given == [1 << 20]
    assert hog is not None
    hog.release()
    assert pool.used_bytes == 0


def test_the_pool_knows_its_own_memory(host_pool: Any) -> None:
    pool, _ = host_pool
    block = pool.acquire(64)
    assert block is not None
    assert pool.holds(block.array(np.float32, (4,)))
    assert not pool.holds(np.zeros(4, np.float32))
    block.release()
    assert not pinned_pool.PinnedPool(64).holds(np.zeros(4))  # never allocated


# ---------------------------------------------------------------------------------------------
# destinations
# ---------------------------------------------------------------------------------------------

def test_frontends_record_every_shm_destination_on_the_request() -> None:
    server = SimpleNamespace(system_shm=SimpleNamespace(allowed=True), cuda_shm=SimpleNamespace(
        get=lambda name: SimpleNamespace(device_id=1) if name == "gpu" else None))
    request = InferenceRequest("m", {})
    shm_io.want_on_device(server, request, "A", ShmRef("gpu", 8, 16))  # type: ignore[arg-type]
    shm_io.want_on_device(server, request, "B", ShmRef("sys", 0, 32))  # type: ignore[arg-type]
    shm_io.want_on_device(server, request, "C", None)  # type: ignore[arg-type]
    assert request.output_parameters == {
        "A": {"shared_memory_region": "gpu", "shared_memory_offset": 8,
              "shared_memory_byte_size": 16},
        "B": {"shared_memory_region": "sys", "shared_memory_offset": 0,
              "shared_memory_byte_size": 32}}
    assert request.output_devices == {"A": 1}
    assert destinations.of(request) == {"A": ShmRef("gpu", 8, 16), "B": ShmRef("sys", 0, 32)}


@pytest.fixture
def region() -> Iterator[tuple[Any, np.ndarray]]:
    """A registered system shm region 'out' of 1 MiB, and a view of its bytes."""
    key = f"/tritoncore_placement_{os.getpid()}"
    path = "/dev/shm" + key
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    from tritoncore.memory.system_shm import SystemSharedMemory

    registry = SystemSharedMemory(True)
    registry.register("out", key, 0, 1 << 20)
    view = np.frombuffer(registry.view("out", 0, 1 << 20), np.uint8)
    yield registry, view
    del view
    registry.unregister()
    os.unlink(path)


def test_an_output_written_once_is_only_reported_after(region: Any) -> None:
    registry, view = region
    out = Tensor.from_numpy("Y", np.arange(4, dtype=np.float32))
    ref = ShmRef("out", 16, 16)
    assert destinations.write(registry, None, out, ref) == 16
    np.testing.assert_array_equal(view[16:32].view(np.float32), np.arange(4))
    marked = destinations.written(out, ref, 16)
    assert marked.shm_written == ("out", 16, 16) and out.shm_written is None
    view[16:32] = 0
    server = SimpleNamespace(system_shm=registry, cuda_shm=None)
    assert shm_io.output_to_shm(server, marked, ref) == 16  # type: ignore[arg-type]
    assert not view[16:32].any()  # not written again
    assert shm_io.output_to_shm(server, marked, ShmRef("out", 64, 16)) == 16  # type: ignore[arg-type]
    np.testing.assert_array_equal(view[64:80].view(np.float32), np.arange(4))


def test_an_output_already_in_its_place_or_overlapping_it_ends_up_right(region: Any) -> None:
    registry, view = region
    view[:64] = np.arange(64, dtype=np.uint8)
    in_place = Tensor.from_numpy("Y", view[8:24])  # a backend wrote it there itself
    assert destinations.write(registry, None, in_place, ShmRef("out", 8, 16)) == 16
    np.testing.assert_array_equal(view[8:24], np.arange(8, 24))
    shifted = Tensor.from_numpy("Y", view[10:26].copy())  # overlapping bytes, other place
    overlapping = Tensor.from_numpy("Y", view[10:26])
    assert destinations.write(registry, None, overlapping, ShmRef("out", 8, 16)) == 16
    np.testing.assert_array_equal(view[8:24], shifted.data)


def test_host_buffer_is_a_view_of_a_system_region_with_room(region: Any) -> None:
    registry, view = region
    buffer = destinations.host_buffer(registry, ShmRef("out", 8, 16), 16)
    assert buffer is not None and buffer.ctypes.data == view.ctypes.data + 8
    assert destinations.host_buffer(registry, ShmRef("out", 8, 16), 17) is None
    assert destinations.host_buffer(registry, ShmRef("nope", 0, 16), 16) is None
    assert destinations.host_buffer(registry, None, 16) is None


# ---------------------------------------------------------------------------------------------
# the lane: small work inline, large work on a thread, in order
# ---------------------------------------------------------------------------------------------

def test_a_lane_runs_small_work_inline_and_large_work_on_a_thread_in_order() -> None:
    lane = placement.Lane()
    seen: list[tuple[str, str]] = []
    gate = threading.Event()
    done = threading.Event()

    def work(label: str, wait: bool = False, last: bool = False) -> Any:
        def run() -> None:
            if wait:
                gate.wait(5)
            seen.append((label, threading.current_thread().name))
            if last:
                done.set()
        return run

    here = threading.current_thread().name
    lane.run(work("small"), 16)
    assert seen == [("small", here)] and not lane.busy
    lane.run(work("big", wait=True), placement.INLINE_BYTES)
    assert lane.busy
    lane.run(work("small after big", last=True), 16)  # queues behind the big one
    assert len(seen) == 1
    gate.set()
    assert done.wait(5)
    assert [label for label, _ in seen] == ["small", "big", "small after big"]
    assert all(thread.startswith("tritoncore-copy") for _, thread in seen[1:])
    for _ in range(100):
        if not lane.busy:
            break
        threading.Event().wait(0.01)
    assert not lane.busy


# ---------------------------------------------------------------------------------------------
# through the server: outputs placed before the response, large ones off the loop
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Every destinations.write: (output, thread name, whether that thread runs a loop)."""
    calls: list[tuple[str, str, bool]] = []
    real = destinations.write

    def recording(system_shm: Any, cuda_shm: Any, tensor: Tensor, ref: ShmRef) -> int:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        calls.append((tensor.name, threading.current_thread().name, on_loop))
        return real(system_shm, cuda_shm, tensor, ref)

    monkeypatch.setattr(destinations, "write", recording)
    return calls


def test_outputs_are_in_the_clients_region_before_the_response_large_ones_off_the_loop(
        repo: Path, region: Any, writes: list[tuple[str, str, bool]]) -> None:
    registry, view = region
    write_model(repo, "double", max_batch_size=0)

    async def body() -> list[Any]:
        server = make_server(repo, allow_client_shm=True)
        server.system_shm = registry
        await server.start()
        try:
            out = []
            for n, offset in ((4, 0), (BIG, 4096)):
                x = np.arange(n, dtype=np.float32)
                request = InferenceRequest("double", {"INPUT0": Tensor.from_numpy("INPUT0", x)})
                shm_io.want_on_device(server, request, "OUTPUT0", ShmRef("out", offset, n * 4))
                response = await server.infer(request)
                tensor = response.outputs[0]
                # the bytes are there when the response arrives, before any frontend
                np.testing.assert_array_equal(view[offset:offset + n * 4].view(np.float32),
                                              x * 2)
                out.append((tensor.shm_written, shm_io.output_to_shm(
                    server, tensor, ShmRef("out", offset, n * 4))))
            return out
        finally:
            await server.stop()

    got = asyncio.run(body())
    assert got == [(("out", 0, 16), 16), (("out", 4096, BIG * 4), BIG * 4)]
    assert [(name, on_loop) for name, _, on_loop in writes] == [
        ("OUTPUT0", True),  # 16 bytes: on the loop, where a thread hop would cost more
        ("OUTPUT0", True),  # the frontend's call: only reports
        ("OUTPUT0", False),  # 64 KiB: on a copy thread
        ("OUTPUT0", True)]
    assert writes[2][1].startswith("tritoncore-copy")


def test_an_output_too_large_for_its_place_is_left_to_the_frontend_to_refuse(
        repo: Path, region: Any) -> None:
    registry, _ = region
    write_model(repo, "double", max_batch_size=0)

    async def body() -> Any:
        server = make_server(repo, allow_client_shm=True)
        server.system_shm = registry
        await server.start()
        try:
            x = np.arange(BIG, dtype=np.float32)
            request = InferenceRequest("double", {"INPUT0": Tensor.from_numpy("INPUT0", x)})
            ref = ShmRef("out", 0, 8)
            shm_io.want_on_device(server, request, "OUTPUT0", ref)
            tensor = (await server.infer(request)).outputs[0]
            assert tensor.shm_written is None
            with pytest.raises(Exception, match="needs 65536 bytes, but shared memory region "
                                                "'out' was given only 8"):
                shm_io.output_to_shm(server, tensor, ref)
        finally:
            await server.stop()

    asyncio.run(body())


def test_gpu_inputs_of_a_host_only_model_go_to_the_host_off_the_loop_and_in_order(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[tuple[int, bool]] = []

    def to_host(data: Any, out: Any = None) -> np.ndarray:
        try:
            asyncio.get_running_loop()
            threads.append((data.size, True))
        except RuntimeError:
            threads.append((data.size, False))
        copies.record(copies.DEVICE_TO_HOST, data.nbytes)
        return np.array(data)

    monkeypatch.setattr(gpu, "to_host", to_host)
    write_model(repo, "double", params(delay_ms="1"))
    import testing_backend

    async def body() -> list[np.ndarray]:
        server = make_server(repo)
        await server.start()
        try:
            sizes = (BIG, 4, 4, BIG, 4)
            requests = []
            for i, n in enumerate(sizes):
                x = np.full((1, n), float(i), np.float32)
                if i in (0, 1, 3):  # CUDA-shm inputs (stand-ins)
                    tensor = Tensor("INPUT0", "FP32", x.shape, x, MemoryKind.GPU, 0)
                else:
                    tensor = Tensor.from_numpy("INPUT0", x)
                requests.append(InferenceRequest("double", {"INPUT0": tensor}, id=str(i)))
            results = await asyncio.gather(*(server.infer(r) for r in requests))
            return [r.outputs[0].as_numpy() for r in results]
        finally:
            await server.stop()

    outs = asyncio.run(body())
    for i, out in enumerate(outs):
        assert out.tolist() == [[2.0 * i] * out.shape[1]]
    # request 0 is large: copied on a thread, and 1..4 queue behind it (their order kept)
    assert threads[0] == (BIG, False)
    order = [rid for e in testing_backend.EVENTS if e[0] == "execute" for rid in e[7]]
    assert order == ["0", "1", "2", "3", "4"]
