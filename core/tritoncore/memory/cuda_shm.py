"""Client-registered CUDA shared-memory regions (cudaIpcMemHandle_t).

This module validates and books registrations and opens each handle once (cupy's
``ipcOpenMemHandle``); :meth:`CudaSharedMemory.locate` bounds-checks a tensor's place in a
region and gives its device address (``frontends/shm_io.py`` turns that into a GPU tensor or
writes an output there). Without a GPU or cupy, registration fails with UNSUPPORTED and a
message that says why.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tritoncore.errors import ErrorCode, TritonError, invalid_arg, not_found
from tritoncore.memory.system_shm import disabled_error

IPC_HANDLE_BYTES = 64  # sizeof(cudaIpcMemHandle_t)


@dataclass
class CudaRegion:
    name: str
    device_id: int
    byte_size: int
    pointer: int  # device address of the opened handle

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "device_id": self.device_id, "byte_size": self.byte_size}


class CudaSharedMemory:
    """The registry of CUDA shm regions; thread-safe."""

    def __init__(self, allowed: bool, gpu_count: int) -> None:
        self.allowed = allowed
        self.gpu_count = gpu_count
        self._regions: dict[str, CudaRegion] = {}
        self._lock = threading.Lock()

    def register(self, name: str, raw_handle: bytes, device_id: int, byte_size: int) -> None:
        if not self.allowed:
            raise disabled_error()
        if not name:
            raise invalid_arg("a CUDA shared memory region needs a name")
        if len(raw_handle) != IPC_HANDLE_BYTES:
            raise invalid_arg(
                f"CUDA shared memory region '{name}': raw_handle must be the "
                f"{IPC_HANDLE_BYTES} bytes of a cudaIpcMemHandle_t, got {len(raw_handle)}"
            )
        if byte_size <= 0:
            raise invalid_arg(f"CUDA shared memory region '{name}': byte_size must be > 0")
        if not 0 <= device_id < max(self.gpu_count, 1) or self.gpu_count == 0:
            if self.gpu_count == 0:
                raise TritonError(
                    ErrorCode.UNSUPPORTED,
                    f"CUDA shared memory region '{name}': this server has no GPU",
                )
            raise invalid_arg(
                f"CUDA shared memory region '{name}': device_id {device_id} is not one of "
                f"this server's GPUs (0..{self.gpu_count - 1})"
            )
        with self._lock:
            if name in self._regions:
                raise TritonError(ErrorCode.ALREADY_EXISTS,
                                  f"CUDA shared memory region '{name}' is already registered")
            pointer = _open_ipc_handle(name, raw_handle, device_id)
            self._regions[name] = CudaRegion(name, device_id, byte_size, pointer)

    def unregister(self, name: str | None = None) -> None:
        with self._lock:
            for n in [name] if name else list(self._regions):
                region = self._regions.pop(n, None)
                if region is not None:
                    _close_ipc_handle(region)

    def get(self, name: str) -> CudaRegion | None:
        """The registered region ``name``, None when there is none."""
        if not self._regions:  # none registered (every system-shm request asks): no lock
            return None
        with self._lock:
            return self._regions.get(name)

    def locate(self, name: str, offset: int, byte_size: int) -> tuple[CudaRegion, int]:
        """The region and the device address of ``byte_size`` bytes at ``offset`` in it.

        NOT_FOUND for an unknown region (HTTP 404, as Triton), INVALID_ARG for bytes outside it.
        """
        region = self.get(name)
        if region is None:
            raise not_found(f"CUDA shared memory region '{name}' is not registered")
        if offset < 0 or byte_size < 0 or offset + byte_size > region.byte_size:
            raise invalid_arg(
                f"CUDA shared memory region '{name}': offset {offset} + byte_size {byte_size} "
                f"is outside the region's {region.byte_size} bytes"
            )
        return region, region.pointer + offset

    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if name:
                if name not in self._regions:
                    raise not_found(f"CUDA shared memory region '{name}' is not registered")
                return [self._regions[name].status()]
            return [r.status() for r in self._regions.values()]


def _open_ipc_handle(name: str, raw_handle: bytes, device_id: int) -> int:
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError:
        raise TritonError(
            ErrorCode.UNSUPPORTED,
            f"CUDA shared memory region '{name}': cupy is not installed on the server "
            "(pip install cupy-cuda12x or cupy-cuda13x)",
        ) from None
    try:
        with cupy.cuda.Device(device_id):
            return int(cupy.cuda.runtime.ipcOpenMemHandle(raw_handle))
    except Exception as exc:  # noqa: BLE001 - CUDA errors become a clear client error
        raise invalid_arg(
            f"CUDA shared memory region '{name}': cannot open the IPC handle on device "
            f"{device_id}: {exc}"
        ) from None


def _close_ipc_handle(region: CudaRegion) -> None:
    import cupy  # type: ignore[import-not-found]

    with cupy.cuda.Device(region.device_id):
        cupy.cuda.runtime.ipcCloseMemHandle(region.pointer)
