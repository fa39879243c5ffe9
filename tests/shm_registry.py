"""A real POSIX shm object registered as region 'r' in a real registry, behind a stand-in for
the server (the codecs read only its ``system_shm`` and ``cuda_shm``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import shared_memory
from types import SimpleNamespace
from typing import Any

import numpy as np
from tritoncore.memory.cuda_shm import CudaSharedMemory
from tritoncore.memory.system_shm import SystemSharedMemory


@contextmanager
def registry_server(size: int) -> Iterator[Any]:
    """Byte i of the object holds i % 256; ``.block`` is the object, ``.key`` its key."""
    block = shared_memory.SharedMemory(f"tc_registry_{os.getpid()}", create=True, size=size)
    block.buf[:size] = (np.arange(size) % 256).astype(np.uint8).tobytes()
    registry = SystemSharedMemory(True)
    registry.register("r", f"/{block.name}", 0, size)
    try:
        yield SimpleNamespace(system_shm=registry, cuda_shm=CudaSharedMemory(True, 0),
                              block=block, key=f"/{block.name}")
    finally:
        registry.unregister()
        block.close()
        block.unlink()
