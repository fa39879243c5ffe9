"""Per-GPU metrics from NVML (pynvml), in Triton's names, help texts and labels.

Triton reads the same values through DCGM; each line is labelled ``gpu_uuid="GPU-..."`` as
``perf_analyzer`` expects. Sampled every ``--metrics-interval-ms`` with the CPU metrics;
absent (no families at all) when pynvml, the driver or a GPU is missing, or with
``--allow-gpu-metrics=false``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# (name, type, help): Triton's metrics.cc.
GPU_FAMILIES = (
    ("nv_gpu_utilization", "gauge", "GPU utilization rate [0.0 - 1.0)"),
    ("nv_gpu_memory_total_bytes", "gauge", "GPU total memory, in bytes"),
    ("nv_gpu_memory_used_bytes", "gauge", "GPU used memory, in bytes"),
    ("nv_gpu_power_usage", "gauge", "GPU power usage in watts"),
    ("nv_gpu_power_limit", "gauge", "GPU power management limit in watts"),
    ("nv_energy_consumption", "counter",
     "GPU energy consumption in joules since the Triton Server started"),
)


def _visible(nvml: Any, count: int) -> list[int]:
    """NVML indices of the GPUs this process may use (``CUDA_VISIBLE_DEVICES``: indices or
    UUIDs)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    wanted = [v.strip() for v in visible.split(",") if v.strip()]
    indices = []
    for item in wanted:
        if item.isdigit() and int(item) < count:
            indices.append(int(item))
            continue
        for i in range(count):
            if _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))).startswith(
                    item):
                indices.append(i)
    return indices


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class GpuSampler:
    """Reads every visible GPU through an NVML module (``pynvml``, or a fake in tests)."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        nvml.nvmlInit()
        self.devices: list[tuple[str, Any]] = []
        for i in _visible(nvml, int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            self.devices.append((_text(nvml.nvmlDeviceGetUUID(handle)), handle))
        self._energy_start: dict[str, float] = {}
        self.values: dict[str, dict[str, float]] = {name: {} for name, _, _ in GPU_FAMILIES}
        self.sample()

    @classmethod
    def create(cls) -> GpuSampler | None:
        """A sampler over pynvml; None (quietly) without pynvml, a driver or a GPU."""
        try:
            import pynvml  # type: ignore[import-not-found]

            sampler = cls(pynvml)
        except Exception as exc:  # noqa: BLE001 - no NVML means no GPU metrics, not an error
            log.debug("no GPU metrics: %s", exc)
            return None
        if not sampler.devices:
            sampler.close()
            return None
        return sampler

    def _read(self, name: str, uuid: str, read: Any) -> None:
        try:
            self.values[name][uuid] = float(read())
        except Exception:  # noqa: BLE001 - a GPU without this counter: leave it out
            self.values[name].pop(uuid, None)

    def sample(self) -> None:
        nvml = self.nvml
        for uuid, h in self.devices:
            self._read("nv_gpu_utilization", uuid,
                       lambda h=h: nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0)
            self._read("nv_gpu_memory_total_bytes", uuid,
                       lambda h=h: nvml.nvmlDeviceGetMemoryInfo(h).total)
            self._read("nv_gpu_memory_used_bytes", uuid,
                       lambda h=h: nvml.nvmlDeviceGetMemoryInfo(h).used)
            self._read("nv_gpu_power_usage", uuid,
                       lambda h=h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
            self._read("nv_gpu_power_limit", uuid,
                       lambda h=h: nvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0)

            def energy(h: Any = h, uuid: str = uuid) -> float:
                joules = nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0  # mJ
                start = self._energy_start.setdefault(uuid, joules)
                return joules - start

            self._read("nv_energy_consumption", uuid, energy)

    def lines(self) -> list[str]:
        """The exposition lines of every family that has at least one GPU's value."""
        out: list[str] = []
        for name, kind, help_text in GPU_FAMILIES:
            values = self.values[name]
            if not values:
                continue
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            for uuid, _ in self.devices:
                if uuid in values:
                    out.append(f'{name}{{gpu_uuid="{uuid}"}} {format_value(values[uuid])}')
        return out

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception as exc:  # noqa: BLE001 - shutting down twice is harmless
            log.debug("nvmlShutdown: %s", exc)


def format_value(value: float) -> str:
    """Plain decimal (never exponent notation, which perf_analyzer's regex rejects)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")
