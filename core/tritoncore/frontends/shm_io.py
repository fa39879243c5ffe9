"""Tensors that live in client-registered shared memory, shared by every frontend.

The request/response parameters are Triton's: ``shared_memory_region``,
``shared_memory_offset`` (default 0) and ``shared_memory_byte_size``.

CUDA regions: an input becomes a GPU tensor (a cupy view of the region's device memory, no
copy); the core copies it to the host once (counted) only for a model that cannot take GPU
inputs. An output is copied device-to-device when the backend returned it on a GPU (the
frontend asks for that through :func:`want_on_device`), host-to-device otherwise.

Outputs with a shm destination are written by the core before the response reaches the
frontend (``memory/destinations.py``, large ones off the event loop); :func:`output_to_shm`
then only reports them, or writes what was not written (and reports why it cannot be).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tritoncore import dtypes
from tritoncore.errors import invalid_arg
from tritoncore.memory import destinations, gpu
from tritoncore.memory.destinations import BYTE_SIZE, OFFSET, REGION, ShmRef
from tritoncore.memory.system_shm import disabled_error
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import MemoryKind, Tensor, element_count

__all__ = ["BYTE_SIZE", "OFFSET", "REGION", "ShmRef", "input_from_shm", "output_to_shm",
           "shm_ref", "want_on_device"]


def shm_ref(what: str, params: Mapping[str, Any]) -> ShmRef | None:
    """The shm location in ``params``, None when the tensor is not in shared memory."""
    region = params.get(REGION)
    if region is None:
        return None
    if not isinstance(region, str) or not region:
        raise invalid_arg(f"{what}: '{REGION}' must be a region name")
    size = params.get(BYTE_SIZE)
    offset = params.get(OFFSET, 0)
    for key, value in ((BYTE_SIZE, size), (OFFSET, offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid_arg(f"{what}: '{key}' must be a non-negative integer, got {value!r}")
    return ShmRef(region, offset, size)  # type: ignore[arg-type]


def _is_cuda(server: Server, region: str) -> bool:
    return server.cuda_shm.get(region) is not None


def input_from_shm(server: Server, name: str, datatype: str, shape: tuple[int, ...],
                   ref: ShmRef) -> Tensor:
    """A view of an input that sits in a registered region (bounds-checked, no copy)."""
    if not server.system_shm.allowed:
        raise disabled_error()
    if _is_cuda(server, ref.region):
        return _input_from_cuda(server, name, datatype, shape, ref)
    view = server.system_shm.view(ref.region, ref.offset, ref.byte_size)
    tensor = Tensor.from_buffer(name, datatype, shape, view)
    tensor.shm_origin = server.system_shm.origin(ref.region, ref.offset)
    return tensor


def output_to_shm(server: Server, tensor: Tensor, ref: ShmRef) -> int:
    """Write an output into its region; returns the bytes written. An output the core already
    wrote there (off the event loop, before the response came back) is only reported.

    INVALID_ARG when the output is larger than the space the client gave it.
    """
    return destinations.write(server.system_shm, server.cuda_shm, tensor, ref)


def _input_from_cuda(server: Server, name: str, datatype: str, shape: tuple[int, ...],
                     ref: ShmRef) -> Tensor:
    dt = dtypes.by_name(datatype)
    if dt.is_bytes:
        raise invalid_arg(f"input '{name}': BYTES tensors cannot be read from CUDA shared "
                          f"memory region '{ref.region}'; use system shared memory")
    expected = element_count(shape) * dt.byte_size
    if ref.byte_size != expected:
        raise invalid_arg(f"input '{name}': {datatype}{list(shape)} needs {expected} bytes, "
                          f"got {ref.byte_size}")
    region, pointer = server.cuda_shm.locate(ref.region, ref.offset, ref.byte_size)
    array = gpu.device_view(pointer, ref.byte_size, region.device_id, np.dtype(dt.wire),
                            shape, region)
    return Tensor(name, dt.name, tuple(shape), array, MemoryKind.GPU, region.device_id)


def want_on_device(server: Server, request: InferenceRequest, output: str,
                   ref: ShmRef | None) -> None:
    """Record on ``request`` that ``output`` goes to shared memory, so that the core writes
    it there off the event loop; for a CUDA region, also tell the backend that it may return
    the output on that GPU."""
    if ref is None:
        return
    if not server.system_shm.allowed:
        raise disabled_error()
    destinations.record(request, output, ref)
    region = server.cuda_shm.get(ref.region)
    if region is not None:
        request.output_devices[output] = region.device_id

