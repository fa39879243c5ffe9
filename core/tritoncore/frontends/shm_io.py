"""Tensors that live in client-registered shared memory, shared by every frontend.

The request/response parameters are Triton's: ``shared_memory_region``,
``shared_memory_offset`` (default 0) and ``shared_memory_byte_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tritoncore.errors import invalid_arg
from tritoncore.server import Server
from tritoncore.tensor import Tensor

REGION = "shared_memory_region"
OFFSET = "shared_memory_offset"
BYTE_SIZE = "shared_memory_byte_size"


@dataclass(frozen=True)
class ShmRef:
    """Where a tensor lives: region name, offset within it, byte size."""

    region: str
    offset: int
    byte_size: int


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


def _owner(server: Server, region: str) -> str:
    names = {r["name"] for r in server.cuda_shm.status()}
    return "cuda" if region in names else "system"


def input_from_shm(server: Server, name: str, datatype: str, shape: tuple[int, ...],
                   ref: ShmRef) -> Tensor:
    """A view of an input that sits in a registered region (bounds-checked, no copy)."""
    if _owner(server, ref.region) == "cuda":
        raise invalid_arg(
            f"input '{name}': reading CUDA shared memory region '{ref.region}' is not "
            "supported yet (GPU data path)"
        )
    view = server.system_shm.view(ref.region, ref.offset, ref.byte_size)
    tensor = Tensor.from_buffer(name, datatype, shape, view)
    tensor.shm_origin = server.system_shm.origin(ref.region, ref.offset)
    return tensor


def output_to_shm(server: Server, tensor: Tensor, ref: ShmRef) -> int:
    """Write an output into its region; returns the bytes written.

    INVALID_ARG when the output is larger than the space the client gave it.
    """
    if _owner(server, ref.region) == "cuda":
        raise invalid_arg(
            f"output '{tensor.name}': writing CUDA shared memory region '{ref.region}' is not "
            "supported yet (GPU data path)"
        )
    data = tensor.to_wire()
    size = len(memoryview(data).cast("B"))
    if size > ref.byte_size:
        raise invalid_arg(
            f"output '{tensor.name}' needs {size} bytes, but shared memory region "
            f"'{ref.region}' was given only {ref.byte_size}"
        )
    target = server.system_shm.view(ref.region, ref.offset, size)
    np.frombuffer(target, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    return size
