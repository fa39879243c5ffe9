"""Device memory through cupy: views of raw device pointers, and counted copies.

cupy is imported on first use only (a CPU-only server never needs it). Every copy made here
is counted in :mod:`tritoncore.memory.copies`. Copies run on one non-blocking stream per
device and are synchronized before returning, so a client in another process that reads
its CUDA shared-memory region after the response sees the bytes. Host sides are staged
through the pinned pool (:mod:`tritoncore.memory.pinned_pool`), whose blocks go back before
the copy returns. The core calls these off the event loop for large tensors
(:mod:`tritoncore.memory.placement`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.memory import copies, pinned_pool

_streams: dict[int, Any] = {}
_lock = threading.Lock()
_MEMCPY_DEFAULT = 4  # cudaMemcpyDefault: direction inferred from unified addresses


def cupy_module() -> Any:
    """The cupy module; UNSUPPORTED with an install hint when missing."""
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError:
        raise TritonError(
            ErrorCode.UNSUPPORTED,
            "GPU memory needs cupy on the server (pip install cupy-cuda12x or cupy-cuda13x)",
        ) from None
    return cupy


def device_view(pointer: int, nbytes: int, device_id: int, dtype: np.dtype[Any],
                shape: tuple[int, ...], owner: Any) -> Any:
    """A cupy array over ``nbytes`` at ``pointer`` on ``device_id`` (no copy).

    ``owner`` is kept alive by the array (the registered region).
    """
    cupy = cupy_module()
    memory = cupy.cuda.UnownedMemory(pointer, nbytes, owner, device_id)
    return cupy.ndarray(shape, dtype=dtype, memptr=cupy.cuda.MemoryPointer(memory, 0))


def _stream(device_id: int) -> Any:
    with _lock:
        stream = _streams.get(device_id)
        if stream is None:
            cupy = cupy_module()
            with cupy.cuda.Device(device_id):
                stream = cupy.cuda.Stream(non_blocking=True)
            _streams[device_id] = stream
        return stream


def new_stream(device_id: int) -> Any:
    """A new CUDA stream on ``device_id`` from torch (when it has CUDA) or cupy; else None."""
    try:
        import torch  # type: ignore[import-not-found]

        if torch.cuda.is_available():
            return torch.cuda.Stream(device=device_id)
    except ImportError:
        pass
    try:
        cupy = cupy_module()
    except TritonError:
        return None
    with cupy.cuda.Device(device_id):
        return cupy.cuda.Stream(non_blocking=True)


def limit_pools(sizes: list[tuple[int, int]]) -> None:
    """``--cuda-memory-pool-byte-size DEVICE:BYTES``: cap cupy's device memory pool (what the
    server's own GPU buffers come from) on each device; nothing to do without cupy."""
    if not sizes:
        return
    try:
        cupy = cupy_module()
    except TritonError:
        return
    for device, size in sizes:
        with cupy.cuda.Device(device):
            cupy.get_default_memory_pool().set_limit(size=size)


def device_of(data: Any) -> int:
    """The CUDA device that holds a DLPack-capable object."""
    return int(data.__dlpack_device__()[1])


def as_device_array(data: Any) -> Any:
    """A contiguous cupy view (or copy, when strided) of any CUDA DLPack-capable object.

    Called with the copy stream current, so DLPack orders the producer's work before it.
    """
    cupy = cupy_module()
    array = data if isinstance(data, cupy.ndarray) else cupy.from_dlpack(data)
    return cupy.ascontiguousarray(array)


def to_host(data: Any, out: np.ndarray | None = None) -> np.ndarray:
    """One device-to-host copy of a device array (counted), as a host array of its dtype and
    shape; into ``out`` (a uint8 host buffer of its size, e.g. a system shm region) if given.

    Staged through the pinned pool when it has room (the DMA goes to page-locked memory, then
    one host copy to the destination, and the block goes straight back); pageable otherwise.
    """
    cupy = cupy_module()
    device = device_of(data)
    with cupy.cuda.Device(device):
        stream = _stream(device)
        with stream:
            src = as_device_array(data)
        nbytes = int(src.nbytes)
        host = np.empty(nbytes, np.uint8) if out is None else out
        block = pinned_pool.pool().acquire(nbytes)
        try:
            staging = host if block is None else block.array(np.uint8, (nbytes,))
            if nbytes:
                cupy.cuda.runtime.memcpyAsync(staging.ctypes.data, src.data.ptr, nbytes,
                                              _MEMCPY_DEFAULT, stream.ptr)
            stream.synchronize()
            if block is not None:
                host[:] = staging
        finally:
            if block is not None:
                block.release()
    copies.record(copies.DEVICE_TO_HOST, nbytes)
    return host.view(src.dtype).reshape(src.shape)


def copy_to_device(dst_pointer: int, device_id: int, source: Any, nbytes: int,
                   on_device: bool) -> None:
    """Copy ``nbytes`` of ``source`` (a device array, or host bytes) to ``dst_pointer``.

    Host bytes are staged through the pinned pool when it has room (one host copy into a
    page-locked block, then the DMA; the block goes straight back).
    """
    cupy = cupy_module()
    block = None
    with cupy.cuda.Device(device_id):
        stream = _stream(device_id)
        try:
            with stream:
                if on_device:
                    src = as_device_array(source)
                    src_pointer = src.data.ptr
                else:
                    host = np.frombuffer(source, dtype=np.uint8, count=nbytes)
                    block = pinned_pool.pool().acquire(nbytes)
                    if block is not None:
                        staging = block.array(np.uint8, (nbytes,))
                        staging[:] = host
                        host = staging
                    src_pointer = host.ctypes.data
                cupy.cuda.runtime.memcpyAsync(dst_pointer, src_pointer, nbytes,
                                              _MEMCPY_DEFAULT, stream.ptr)
            stream.synchronize()
        finally:
            if block is not None:
                block.release()
    copies.record(copies.DEVICE_TO_DEVICE if on_device else copies.HOST_TO_DEVICE, nbytes)
