"""CUDA shared memory end to end on a real GPU (marked ``gpu``; skips without one).

Runs ``benchmarks/gpu_data_path.py --quick``: tritonclient's CUDA shm utilities, a KIND_GPU
and a KIND_CPU TorchScript model, exact results, the device-to-host copy count (0 for the
GPU model, 1 for the CPU model), 8 concurrent CUDA-shm requests to a dynamically batched
KIND_GPU model (one batch, exact, 0 / 0 / 8 D2H / H2D / D2D copies), outputs downloaded
through the pinned pool (0 bytes used after), refusals, and the NVML metrics parsed with
perf_analyzer's regex.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gpu_ready() -> str:
    for module in ("torch", "cupy", "pynvml", "cuda.bindings.runtime"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"needs {module}"
        except ModuleNotFoundError:
            return f"needs {module}"
    import torch

    if not torch.cuda.is_available():
        return "needs a CUDA GPU"
    return ""


@pytest.mark.gpu
def test_cuda_shared_memory_end_to_end_on_a_gpu(tmp_path: Path) -> None:
    reason = _gpu_ready()
    if reason:
        pytest.skip(reason)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_data_path.py"),
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "all checks passed" in done.stdout
