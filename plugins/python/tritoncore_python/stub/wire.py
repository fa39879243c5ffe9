"""Tensor descriptors that cross the control channel: (name, datatype, shape, offset, nbytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.tensor import deserialize_bytes, element_count, serialize_bytes

Descriptor = tuple[str, str, tuple[int, ...], int, int]


def to_bytes(array: np.ndarray, datatype: str) -> memoryview | bytes:
    """Wire bytes of an array: a view for fixed-size types, a serialization for BYTES."""
    if datatype == "BYTES":
        return serialize_bytes(array)
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return memoryview(array.reshape(-1)).cast("B")  # 1-D: a zero-size (0, 4) casts too


def from_bytes(buffer: Any, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
    """An array over wire bytes (a view for fixed-size types)."""
    dt = dtypes.by_name(datatype)
    count = element_count(shape)
    if dt.is_bytes:
        return deserialize_bytes(buffer, count).reshape(shape)
    return np.frombuffer(buffer, dtype=dt.numpy, count=count).reshape(shape)


def host_array(data: Any) -> np.ndarray:
    """A numpy array of any tensor-like (numpy, torch CPU/GPU, cupy, DLPack)."""
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "detach"):  # torch
        return data.detach().cpu().numpy()  # type: ignore[no-any-return]
    if hasattr(data, "get"):  # cupy
        return data.get()  # type: ignore[no-any-return]
    return np.from_dlpack(data)
