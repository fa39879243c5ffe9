"""Counters of the copies that move tensor bytes between host and device memory.

Process-wide (a backend in this process counts its own copies here too), read by the
metrics frontend as ``tritoncore_memory_copy_count`` / ``tritoncore_memory_copy_bytes``
(tritoncore extensions; Triton has no such metric). Tests and benchmarks read deltas.
"""

from __future__ import annotations

import threading

DEVICE_TO_HOST = "device_to_host"
HOST_TO_DEVICE = "host_to_device"
DEVICE_TO_DEVICE = "device_to_device"
DIRECTIONS = (DEVICE_TO_HOST, HOST_TO_DEVICE, DEVICE_TO_DEVICE)

_lock = threading.Lock()
_counts = dict.fromkeys(DIRECTIONS, 0)
_bytes = dict.fromkeys(DIRECTIONS, 0)


def record(direction: str, nbytes: int) -> None:
    """Count one copy of ``nbytes`` in ``direction`` (one of :data:`DIRECTIONS`)."""
    with _lock:
        _counts[direction] += 1
        _bytes[direction] += int(nbytes)


def snapshot() -> dict[str, tuple[int, int]]:
    """``{direction: (copies, bytes)}`` so far."""
    with _lock:
        return {d: (_counts[d], _bytes[d]) for d in DIRECTIONS}
