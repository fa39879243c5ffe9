"""Which GPUs this process can use (NVML when installed; none otherwise)."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def gpu_count(min_compute_capability: float = 0.0) -> int:
    """Visible GPUs: honours ``CUDA_VISIBLE_DEVICES``; 0 without NVML or a driver.

    GPUs are numbered from 0, so the count stops at the first visible GPU whose compute
    capability is below ``min_compute_capability`` (``--min-supported-compute-capability``),
    with a warning naming it.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
            if visible is not None:
                count = min(count, len([v for v in visible.split(",") if v.strip()]))
            if min_compute_capability > 0:
                count = _supported(pynvml, count, visible, min_compute_capability)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML, no driver, no GPU: all mean zero
        return 0
    return count


def _supported(nvml: Any, count: int, visible: str | None, minimum: float) -> int:
    """How many leading GPUs meet ``minimum`` compute capability."""
    order = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    for i in range(count):
        index = int(order[i]) if i < len(order) and order[i].isdigit() else i
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(
            nvml.nvmlDeviceGetHandleByIndex(index))
        if major + minor / 10 < minimum:
            log.warning("GPU %d has compute capability %d.%d, below "
                        "--min-supported-compute-capability %.1f: it and any after it are "
                        "not used", i, major, minor, minimum)
            return i
    return count
