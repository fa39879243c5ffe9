"""The pinned (page-locked) host memory pool: ``--pinned-memory-pool-byte-size``.

One page-locked buffer of that size, allocated (through cupy) the first time a block is asked
for, so a CPU-only server never pins anything. Blocks are carved first-fit, 256-byte aligned,
and given back with :meth:`PinnedBlock.release`. When the pool is empty, too full, or there is
no GPU, :meth:`PinnedPool.acquire` returns None and the caller stages through its own memory
(as Triton falls back to its default allocator). Size and use are on ``/metrics`` as
``nv_pinned_memory_pool_total_bytes`` / ``nv_pinned_memory_pool_used_bytes``.

The pool of this process is :func:`pool` (set by ``Server`` from the flag), shared with
in-process backends: the PyTorch backend stages host inputs and outputs of GPU instances
through it, and the core's own host/device copies (``memory/gpu.py``) stage through it.
Every block goes back as soon as the bytes have moved on (outputs are copied out of the pool
to their destination, a client's shm region or the response's memory, before the response
leaves the backend), so ``used_bytes`` is 0 whenever no copy is in flight.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

ALIGN = 256
DEFAULT_BYTE_SIZE = 268435456  # Triton's default


def _cuda_pinned(nbytes: int) -> np.ndarray | None:
    try:
        import cupy  # type: ignore[import-not-found]

        if cupy.cuda.runtime.getDeviceCount() == 0:
            return None
        memory = cupy.cuda.alloc_pinned_memory(nbytes)
    except Exception:  # noqa: BLE001 - no cupy, driver or GPU: no pool
        return None
    array = np.frombuffer(memory, dtype=np.uint8, count=nbytes)
    return array


class PinnedBlock:
    """``nbytes`` of pinned memory at ``offset`` in the pool."""

    def __init__(self, pool: PinnedPool, offset: int, nbytes: int, size: int) -> None:
        self.pool, self.offset, self.nbytes, self._size = pool, offset, nbytes, size
        self.released = False

    def array(self, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A numpy view of the block as ``dtype[shape]``."""
        assert self.pool.buffer is not None
        needed = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if needed > self.nbytes:
            raise ValueError(f"{needed} bytes asked of a {self.nbytes}-byte pinned block")
        raw = self.pool.buffer[self.offset:self.offset + needed]
        return raw.view(dtype).reshape(shape)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool._free(self.offset, self._size)


class PinnedPool:
    """First-fit allocator over one pinned buffer; thread-safe."""

    def __init__(self, byte_size: int,
                 allocate: Callable[[int], np.ndarray | None] = _cuda_pinned) -> None:
        self.byte_size = byte_size
        self._allocate = allocate
        self.buffer: np.ndarray | None = None
        self._tried = False
        self._free_list: list[tuple[int, int]] = []  # (offset, size), sorted by offset
        self.used_bytes = 0
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        return self.byte_size

    def acquire(self, nbytes: int) -> PinnedBlock | None:
        """A block of at least ``nbytes``; None when the pool cannot give one."""
        if nbytes <= 0 or nbytes > self.byte_size:
            return None
        size = -(-nbytes // ALIGN) * ALIGN
        with self._lock:
            if not self._tried:
                self._tried = True
                self.buffer = self._allocate(self.byte_size)
                if self.buffer is not None:
                    self._free_list = [(0, self.byte_size)]
            for i, (offset, free) in enumerate(self._free_list):
                if free >= size:
                    if free == size:
                        del self._free_list[i]
                    else:
                        self._free_list[i] = (offset + size, free - size)
                    self.used_bytes += size
                    return PinnedBlock(self, offset, nbytes, size)
        return None

    def holds(self, array: np.ndarray) -> bool:
        """Whether ``array``'s bytes lie in this pool (a view of one of its blocks)."""
        if self.buffer is None or array.size == 0:
            return False
        start = self.buffer.ctypes.data
        return start <= array.ctypes.data < start + self.byte_size

    def _free(self, offset: int, size: int) -> None:
        with self._lock:
            self.used_bytes -= size
            i = bisect.bisect(self._free_list, (offset, size))
            self._free_list.insert(i, (offset, size))
            # merge with the neighbours
            if i + 1 < len(self._free_list) and offset + size == self._free_list[i + 1][0]:
                size += self._free_list.pop(i + 1)[1]
                self._free_list[i] = (offset, size)
            if i > 0 and self._free_list[i - 1][0] + self._free_list[i - 1][1] == offset:
                prev = self._free_list.pop(i - 1)
                self._free_list[i - 1] = (prev[0], prev[1] + size)


_pool = PinnedPool(0)


def pool() -> PinnedPool:
    """This process's pool (size 0, never allocating, until ``configure``)."""
    return _pool


def configure(byte_size: int) -> PinnedPool:
    """Replace this process's pool by one of ``byte_size`` (``Server`` calls this)."""
    global _pool
    _pool = PinnedPool(byte_size)
    return _pool
