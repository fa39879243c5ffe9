"""Which GPUs this process can use (NVML when installed; none otherwise)."""

from __future__ import annotations

import os


def gpu_count() -> int:
    """Visible GPUs: honours ``CUDA_VISIBLE_DEVICES``; 0 without NVML or a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML, no driver, no GPU: all mean zero
        return 0
    if visible is not None:
        return min(count, len([v for v in visible.split(",") if v.strip()]))
    return count
