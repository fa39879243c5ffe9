"""Triton datatypes <-> torch dtypes, and zero-copy moves between Tensor and torch.Tensor.

The plugin's one table. BF16 arrives from the core as raw uint16 bit patterns (numpy has no
bfloat16), so it is reinterpreted, never converted. BYTES has no torch dtype: models that use
it are refused at load time.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from tritoncore.errors import unsupported
from tritoncore.tensor import MemoryKind, Tensor

TORCH_DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "UINT8": torch.uint8,
    "UINT16": torch.uint16,
    "UINT32": torch.uint32,
    "UINT64": torch.uint64,
    "INT8": torch.int8,
    "INT16": torch.int16,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "FP16": torch.float16,
    "FP32": torch.float32,
    "FP64": torch.float64,
    "BF16": torch.bfloat16,
}
warnings.filterwarnings("ignore", message="The given NumPy array is not writable",
                        category=UserWarning)
_TRITON_NAMES = {dtype: name for name, dtype in TORCH_DTYPES.items()}


def torch_dtype(datatype: str, what: str) -> torch.dtype:
    """The torch dtype of a Triton wire name; UNSUPPORTED (naming ``what``) for BYTES."""
    try:
        return TORCH_DTYPES[datatype]
    except KeyError:
        raise unsupported(
            f"{what} is {datatype}, which the PyTorch backend does not support (supported: "
            f"{', '.join(TORCH_DTYPES)}); use the Python backend for string tensors"
        ) from None


def triton_name(dtype: torch.dtype) -> str:
    """The Triton wire name of a torch dtype (``str(dtype)`` when Triton has none)."""
    return _TRITON_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def to_torch(tensor: Tensor) -> torch.Tensor:
    """A torch view of a request tensor: numpy via ``from_numpy``, GPU data via DLPack."""
    data: Any = tensor.data
    if tensor.memory is MemoryKind.GPU:
        out = data if isinstance(data, torch.Tensor) else torch.from_dlpack(data)
    else:
        # No copy: a view of the request buffer, read-only or not (torch has no read-only
        # tensors; like Triton, which hands libtorch the request buffer, the model must not
        # write into its inputs).
        out = torch.from_numpy(np.asarray(data))
    if tensor.datatype == "BF16" and out.dtype != torch.bfloat16:
        out = out.view(torch.bfloat16)
    return out


def to_numpy(value: torch.Tensor) -> np.ndarray:
    """A host numpy array of a (CPU) torch tensor, BF16 as uint16 bit patterns."""
    if value.dtype == torch.bfloat16:
        return value.view(torch.int16).numpy().view(np.uint16)
    return value.numpy()
