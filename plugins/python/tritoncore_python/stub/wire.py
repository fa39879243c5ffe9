"""What crosses the control channel for an execute, and the tensor descriptors in it.

Every message is a dict with an ``"op"`` except the two that every batch sends, which are
tuples with their fields by position (a dict for each request cost about 1 µs a request to
pickle and read, on each side):

- ``(EXECUTE, id, in_size, requests, release)``, server to stub; each request
  ``(rid, id, inputs, requested, correlation_id, flags, timeout, parameters)``, each input
  ``(name, datatype, shape, offset, nbytes, shm key or None)``; ``release``: output
  allocations the server has copied out.
- ``(EXECUTED, id, responses, out_size, error)``, stub to server; ``responses`` is None when
  the model answered through response senders (or failed: ``error``), else one
  ``Response`` a request, ``(outputs, alloc, error, parameters)``, each output
  ``(name, datatype, shape, offset, nbytes)`` in the output arena, ``alloc`` the one
  allocation holding them (None when they hold no bytes). A decoupled response (the
  ``"response"`` message) carries the same response tuple.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.tensor import deserialize_bytes, element_count, serialize_bytes

Descriptor = tuple[str, str, tuple[int, ...], int, int]
EXECUTE = "execute"
EXECUTED = "executed"
#: the response to one request (see above)
Response = tuple[Any, int | None, tuple[int, str] | None, dict[str, Any] | None]


def failed(code: int, message: str) -> Response:
    """A response tuple that is an error only."""
    return ((), None, (code, message), None)


def to_bytes(array: np.ndarray, datatype: str) -> memoryview | bytes:
    """Wire bytes of an array: a view for fixed-size types, a serialization for BYTES."""
    if datatype == "BYTES":
        return serialize_bytes(array)
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.reshape(-1).data.cast("B")  # 1-D: a zero-size (0, 4) casts too


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
