"""Datatype conversions for backends, all derived from the core's one table (tritoncore.dtypes).

Framework dtypes (torch) are derived from the table's numpy types, so no second table exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.errors import unsupported


def numpy_dtype(datatype: str) -> np.dtype:
    """``"FP32"`` -> ``float32``; BF16 -> ``uint16`` (bit patterns); BYTES -> ``object``."""
    return dtypes.by_name(datatype).numpy


def datatype_of(dtype: Any) -> str:
    """The wire name of a numpy dtype (``float32`` -> ``"FP32"``; strings -> ``"BYTES"``)."""
    return dtypes.from_numpy(np.dtype(dtype)).name


def config_name(datatype: str) -> str:
    """``"FP32"`` -> ``"TYPE_FP32"``; ``"BYTES"`` -> ``"TYPE_STRING"``."""
    return dtypes.by_name(datatype).config_name


def from_config_name(name: str) -> str:
    """``"TYPE_FP32"`` -> ``"FP32"``."""
    return dtypes.by_config_name(name).name


def torch_dtype(datatype: str) -> Any:
    """The torch dtype of a wire name (imports torch); BYTES has none (UNSUPPORTED)."""
    import torch

    if datatype == "BF16":
        return torch.bfloat16
    entry = dtypes.by_name(datatype)
    if entry.is_bytes:
        raise unsupported("BYTES tensors have no torch dtype")
    return torch.from_numpy(np.empty(0, dtype=entry.numpy)).dtype
