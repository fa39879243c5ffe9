"""Copies that must finish before a request moves on, kept off the event loop when large.

A :class:`Lane` runs one model version's deliveries (or queuings) in the order they were
handed to it: small ones at once on the calling thread, large ones (and anything behind them)
on a shared pool of threads, so that a 64 MiB copy into a client's region never stalls the
event loop while other clients wait. ``repository/version.py`` uses one lane to write
responses' outputs into their shared-memory destinations (:func:`place`) before delivering
them, and one to copy CUDA-shm inputs to the host for host-only models before queuing them.
Every copy synchronizes its CUDA stream before it returns (``memory/gpu.py``), so a response
is only delivered once its bytes are in place.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tritoncore.memory import destinations
from tritoncore.memory.destinations import ShmRef

log = logging.getLogger(__name__)

#: Work on fewer bytes than this runs on the calling thread: a thread hop costs more.
INLINE_BYTES = 1 << 16
_WORKERS = 4

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="tritoncore-copy")
        return _executor


class Lane:
    """Runs work in order; small work inline while nothing is queued, the rest on a thread."""

    def __init__(self) -> None:
        self._queue: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self.busy = False  # work is queued or running on a thread: later work queues too

    def defers(self, nbytes: int) -> bool:
        """Whether work on ``nbytes`` must go through :meth:`defer` (keeping the order)."""
        return self.busy or nbytes >= INLINE_BYTES

    def run(self, work: Callable[[], None], nbytes: int) -> None:
        """``work()`` now, or on a thread after the work already queued."""
        if self.defers(nbytes):
            self.defer(work)
        else:
            work()

    def defer(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._queue.append(work)
            if self.busy:
                return
            self.busy = True
        _pool().submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self.busy = False
                    return
                work = self._queue.popleft()
            try:
                work()
            except Exception:  # the work reports its own failures; keep draining
                log.exception("deferred copy failed")


def pending_bytes(response: Any, places: dict[str, ShmRef]) -> int:
    """Bytes of ``response``'s outputs still to be written to their ``places``."""
    total = 0
    for tensor in response.outputs:
        ref = places.get(tensor.name)
        if ref is not None and not destinations.is_written(tensor, ref):
            total += ref.byte_size if tensor.datatype == "BYTES" else tensor.byte_size
    return total


def place(system_shm: Any, cuda_shm: Any, response: Any, places: dict[str, ShmRef]) -> None:
    """Write ``response``'s outputs into their ``places``; each output written is replaced by
    a copy marked written. An output that cannot be written (too large for its place, an
    unregistered region) is left alone: the frontend writes it and reports the error."""
    outputs = response.outputs
    for i, tensor in enumerate(outputs):
        ref = places.get(tensor.name)
        if ref is None or destinations.is_written(tensor, ref):
            continue
        try:
            size = destinations.write(system_shm, cuda_shm, tensor, ref)
        except Exception as exc:  # noqa: BLE001 - the frontend repeats it and reports it
            log.debug("output '%s' not placed ahead of the frontend: %s", tensor.name, exc)
            continue
        outputs[i] = destinations.written(tensor, ref, size)
