"""Importing TensorRT (and the CUDA array library for buffers) with errors that say what to do."""

from __future__ import annotations

import importlib
from typing import Any

from tritoncore.errors import unavailable

INSTALL = ("pip install tensorrt (NVIDIA's wheels; TensorRT 10 or later, on a machine with a "
           "CUDA GPU)")


def tensorrt() -> Any:
    """The ``tensorrt`` module (>= 10), or UNAVAILABLE saying how to install it."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise unavailable(f"the TensorRT backend needs the 'tensorrt' Python package, which is "
                          f"not importable here ({exc}); {INSTALL}") from None
    major = int(str(getattr(trt, "__version__", "0")).split(".")[0] or 0)
    if major < 10:
        raise unavailable(f"the TensorRT backend needs TensorRT 10 or later, found "
                          f"{trt.__version__}; {INSTALL}")
    return trt


def torch_cuda() -> Any:
    """torch with CUDA, which allocates the device buffers and provides the stream."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise unavailable("the TensorRT backend allocates device buffers with torch, which is "
                          "not importable; pip install torch (a CUDA build)") from None
    if not torch.cuda.is_available():
        raise unavailable("the TensorRT backend needs a CUDA GPU; torch sees none")
    return torch
