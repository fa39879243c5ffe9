"""Where a client asked an output to go: a place in one of its shared-memory regions.

A frontend records the place on the request (:func:`record`) under Triton's parameter names in
``request.output_parameters``, so a request stays plain data. :func:`write` puts an output's
bytes there (system shm: one host copy; CUDA shm: device-to-device, or host-to-device through
the pinned pool), bounds-checked; :func:`written` gives the output marked as written
(``Tensor.shm_written``), so that the frontend only reports it. ``repository/version.py`` calls it off the event loop for large
outputs (:mod:`tritoncore.memory.placement`); a backend that stages a download can copy
straight into a system region with :func:`host_buffer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritoncore.errors import invalid_arg
from tritoncore.memory import gpu
from tritoncore.tensor import MemoryKind, Tensor

REGION = "shared_memory_region"
OFFSET = "shared_memory_offset"
BYTE_SIZE = "shared_memory_byte_size"


@dataclass(frozen=True)
class ShmRef:
    """Where a tensor lives: region name, offset within it, byte size."""

    region: str
    offset: int
    byte_size: int


def record(request: Any, output: str, ref: ShmRef) -> None:
    """Note on ``request`` that ``output`` goes to ``ref``."""
    request.output_parameters[output] = {REGION: ref.region, OFFSET: ref.offset,
                                         BYTE_SIZE: ref.byte_size}


def of(request: Any) -> dict[str, ShmRef]:
    """The shared-memory destinations recorded on ``request`` (output name -> place)."""
    params: Mapping[str, Mapping[str, Any]] = request.output_parameters
    if not params:
        return {}
    return {name: ShmRef(p[REGION], p.get(OFFSET, 0), p[BYTE_SIZE])
            for name, p in params.items() if REGION in p}


def is_written(tensor: Tensor, ref: ShmRef) -> bool:
    """Whether ``tensor`` was already written to ``ref``."""
    return tensor.shm_written is not None and tensor.shm_written[:2] == (ref.region, ref.offset)


def _too_small(tensor: Tensor, ref: ShmRef, size: int) -> Exception:
    return invalid_arg(f"output '{tensor.name}' needs {size} bytes, but shared memory region "
                       f"'{ref.region}' was given only {ref.byte_size}")


def written(tensor: Tensor, ref: ShmRef, size: int) -> Tensor:
    """A copy of ``tensor`` (same data) marked as already written to ``ref`` (``size`` bytes);
    a copy, since a backend may hand the same Tensor object to other requests."""
    return tensor.replaced(shm_written=(ref.region, ref.offset, size))


def write(system_shm: Any, cuda_shm: Any, tensor: Tensor, ref: ShmRef) -> int:
    """Write ``tensor`` into its region (unless it is marked written there); returns the
    bytes written.

    INVALID_ARG when the output is larger than the space the client gave it, or the place
    is outside the region.
    """
    if is_written(tensor, ref):
        return tensor.shm_written[2]  # type: ignore[index]
    if cuda_shm is not None and cuda_shm.get(ref.region) is not None:
        return _write_cuda(cuda_shm, tensor, ref)
    return _write_system(system_shm, tensor, ref)


def _write_system(system_shm: Any, tensor: Tensor, ref: ShmRef) -> int:
    if tensor.memory is MemoryKind.GPU and tensor.datatype != "BYTES":
        size = tensor.byte_size
        if size > ref.byte_size:
            raise _too_small(tensor, ref, size)
        target = np.frombuffer(system_shm.view(ref.region, ref.offset, size), dtype=np.uint8)
        if size:
            gpu.to_host(tensor.data, out=target)  # staged through the pinned pool
        return size
    data = tensor.to_wire()
    size = len(memoryview(data).cast("B"))
    if size > ref.byte_size:
        raise _too_small(tensor, ref, size)
    target = np.frombuffer(system_shm.view(ref.region, ref.offset, size), dtype=np.uint8)
    source = np.frombuffer(data, dtype=np.uint8)
    # Copy unless a backend wrote it in place: compare addresses (1 us each through .ctypes)
    # only when the two may overlap at all (0.2 us).
    if not np.may_share_memory(target, source) or target.ctypes.data != source.ctypes.data:
        target[:] = source
    return size


def _write_cuda(cuda_shm: Any, tensor: Tensor, ref: ShmRef) -> int:
    if tensor.datatype == "BYTES":
        raise invalid_arg(f"output '{tensor.name}': BYTES tensors cannot be written to CUDA "
                          f"shared memory region '{ref.region}'; use system shared memory")
    size = tensor.byte_size
    if size > ref.byte_size:
        raise _too_small(tensor, ref, size)
    region, pointer = cuda_shm.locate(ref.region, ref.offset, ref.byte_size)
    if size:
        on_device = tensor.memory is MemoryKind.GPU
        source = tensor.data if on_device else tensor.to_wire()
        gpu.copy_to_device(pointer, region.device_id, source, size, on_device)
    return size


def host_buffer(system_shm: Any, ref: ShmRef | None, nbytes: int) -> np.ndarray | None:
    """A writable uint8 view of ``nbytes`` at ``ref`` when it is a place in a system region
    with room for them; None otherwise (the output then goes through :func:`write`, which
    reports what is wrong)."""
    if ref is None or system_shm is None or nbytes > ref.byte_size:
        return None
    try:
        view = system_shm.view(ref.region, ref.offset, nbytes)
    except Exception:  # noqa: BLE001 - not a system region, or out of bounds: write() says
        return None
    return np.frombuffer(view, dtype=np.uint8)
