"""A tensor value: name, datatype, shape and a buffer, with zero-copy numpy and DLPack views."""

from __future__ import annotations

import enum
import math
import struct
from typing import Any

import numpy as np

from tritoncore import dtypes
from tritoncore.errors import invalid_arg

_LEN = struct.Struct("<I")
#: the fixed-size types by wire name: (little-endian numpy dtype, bytes per element)
_FIXED = {t.name: (t.wire, t.byte_size) for t in dtypes.TABLE if not t.is_bytes}


class MemoryKind(enum.Enum):
    """Where a tensor's bytes live (TRITONSERVER_MemoryType)."""

    CPU = 0
    CPU_PINNED = 1
    GPU = 2


class Tensor:
    """One named tensor. ``data`` is a numpy array (CPU) or a DLPack-capable object (GPU).

    Fixed-size types hold a numpy array of the table's dtype; BYTES holds an object array of
    ``bytes``. Construct from wire bytes with :meth:`from_buffer`, which never copies: it
    keeps the bytes (:meth:`to_wire` hands them out as they are) and makes the numpy view of
    them the first time ``data`` is read.
    """

    __slots__ = ("name", "datatype", "shape", "_data", "memory", "device_id", "parameters",
                 "shm_origin", "shm_written", "_wire")

    def __init__(self, name: str, datatype: str, shape: tuple[int, ...], data: Any,
                 memory: MemoryKind = MemoryKind.CPU, device_id: int = 0,
                 parameters: dict[str, Any] | None = None,
                 shm_origin: tuple[str, int] | None = None,
                 shm_written: tuple[str, int, int] | None = None) -> None:
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self._data = data
        self.memory = memory
        self.device_id = device_id
        self.parameters: dict[str, Any] = {} if parameters is None else parameters
        #: (POSIX shm key, byte offset) when ``data`` views a client-registered system shm
        #: region, so a backend in another process can map the same bytes instead of copying.
        self.shm_origin = shm_origin
        #: (region name, offset, bytes) of the client's shm destination this output was
        #: already written to (off the event loop, ``memory/destinations.py``); the frontend
        #: only reports it.
        self.shm_written = shm_written
        self._wire: Any = None  # the wire bytes ``_data`` views or will view

    @property
    def data(self) -> Any:
        data = self._data
        if data is None and self._wire is not None:
            wire, _ = _FIXED[self.datatype]
            data = self._data = np.ndarray(self.shape, wire, self._wire)
        return data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value
        self._wire = None

    def replaced(self, **changes: Any) -> Tensor:
        """A copy with some attributes changed (the data is shared, not copied)."""
        fields = {k: getattr(self, k) for k in ("name", "datatype", "shape", "memory",
                                                 "device_id", "parameters", "shm_origin",
                                                 "shm_written")}
        fields.update(changes)
        fields.setdefault("data", self._data)
        copy = Tensor(**fields)
        if "data" not in changes:
            copy._wire = self._wire
        return copy

    def __repr__(self) -> str:
        return (f"Tensor({self.name!r}, {self.datatype}, shape={list(self.shape)}, "
                f"memory={self.memory.name})")

    @classmethod
    def from_numpy(cls, name: str, array: np.ndarray, datatype: str | None = None) -> Tensor:
        """Wrap an array without copying; BYTES/str arrays become object arrays of bytes."""
        dt = dtypes.by_name(datatype) if datatype else dtypes.from_numpy(array.dtype)
        if dt.is_bytes and array.dtype != np.object_:
            array = np.array([_as_bytes(v) for v in array.reshape(-1)], dtype=np.object_).reshape(
                array.shape
            )
        return cls(name, dt.name, tuple(int(d) for d in array.shape), array)

    @classmethod
    def from_buffer(cls, name: str, datatype: str, shape: tuple[int, ...], buffer: Any) -> Tensor:
        """A view of wire-format bytes (little-endian, row-major; BYTES length-prefixed).

        Raises INVALID_ARG when the byte count does not match the shape.
        """
        shape = tuple(shape)
        fixed = _FIXED.get(datatype)
        if fixed is None:
            dt = dtypes.by_name(datatype)  # BYTES (or an unknown name: INVALID_ARG)
            return cls(name, dt.name, shape,
                       deserialize_bytes(buffer, element_count(shape), name).reshape(shape))
        dtype, size = fixed
        if type(buffer) is bytes:
            nbytes = len(buffer)
        else:
            buffer = _flat(buffer if type(buffer) is memoryview else memoryview(buffer))
            nbytes = buffer.nbytes
        count = math.prod(shape)
        if nbytes != count * size or (shape and min(shape) < 0):
            count = element_count(shape)  # a negative dimension is its own error
            raise invalid_arg(f"input '{name}': {datatype}{list(shape)} needs "
                              f"{count * size} bytes, got {nbytes}")
        tensor = cls(name, datatype, shape, None)
        if type(buffer) is bytes or buffer.c_contiguous:
            tensor._wire = buffer
        else:  # a strided view: numpy says what is wrong with it
            tensor._data = np.ndarray(shape, dtype, buffer)
        return tensor

    @classmethod
    def from_wire(cls, name: str, datatype: str, shape: tuple[int, ...], buffer: Any) -> Tensor:
        """:meth:`from_buffer` for bytes known to fit ``shape`` (an input of a kept request
        layout whose sizes were checked when it was first parsed, the outputs a model process
        wrote): fixed-size types without its checks; BYTES are parsed as there."""
        if datatype == "BYTES":
            return cls.from_buffer(name, datatype, shape, buffer)
        tensor = cls(name, datatype, shape, None)
        tensor._wire = buffer
        return tensor

    def as_numpy(self) -> np.ndarray:
        """The CPU array (no copy)."""
        if self.memory is MemoryKind.GPU:
            raise invalid_arg(f"tensor '{self.name}' is in GPU memory; use to_dlpack()")
        return self.data  # type: ignore[no-any-return]

    def to_host(self) -> np.ndarray:
        """The data as a host array: a view for CPU tensors, one counted device-to-host copy
        for GPU tensors."""
        if self.memory is not MemoryKind.GPU:
            return self.data  # type: ignore[no-any-return]
        from tritoncore.memory import gpu

        return gpu.to_host(self.data).reshape(self.shape)

    def to_dlpack(self) -> Any:
        """A DLPack capsule of the data (no copy). BYTES tensors have no DLPack form."""
        if self.datatype == "BYTES":
            raise invalid_arg(f"tensor '{self.name}' is BYTES, which DLPack cannot carry")
        return self.data.__dlpack__()

    def to_wire(self) -> bytes | memoryview:
        """Wire-format bytes: a view for fixed-size types, a serialization for BYTES (a GPU
        tensor is copied to the host first)."""
        if self._wire is not None:
            return self._wire
        array = self.to_host()
        if self.datatype == "BYTES":
            return serialize_bytes(array)
        array = np.ascontiguousarray(array)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        return array.reshape(-1).data.cast("B")  # 1-D first: an empty one casts too

    @property
    def byte_size(self) -> int:
        """Bytes on the wire."""
        if self.datatype == "BYTES":
            return sum(4 + len(v) for v in self.as_numpy().reshape(-1))
        return element_count(self.shape) * dtypes.by_name(self.datatype).byte_size


def _flat(view: memoryview) -> memoryview:
    """``view`` as one-dimensional bytes when it is contiguous (as it is when strided)."""
    if (view.ndim == 1 and view.format == "B") or not view.c_contiguous:
        return view
    return view.cast("B") if view.nbytes else memoryview(b"")  # cast refuses a 0 in a shape


def element_count(shape: tuple[int, ...] | list[int]) -> int:
    """Number of elements; negative dims are an INVALID_ARG error."""
    if shape and min(shape) < 0:
        raise invalid_arg(f"shape {list(shape)} has a negative dimension")
    return math.prod(shape)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value)
    return str(value).encode("utf-8")


def serialize_bytes(array: np.ndarray) -> bytes:
    """BYTES wire form: each element as a 4-byte little-endian length, then its bytes."""
    parts: list[bytes] = []
    for value in array.reshape(-1):
        item = _as_bytes(value)
        parts.append(_LEN.pack(len(item)))
        parts.append(item)
    return b"".join(parts)


def deserialize_bytes(buffer: memoryview | bytes, count: int, name: str = "") -> np.ndarray:
    """Parse ``count`` length-prefixed elements that must fill ``buffer`` exactly."""
    view = memoryview(buffer).cast("B")
    out = np.empty(count, dtype=np.object_)
    pos = 0
    for i in range(count):
        if pos + 4 > len(view):
            raise invalid_arg(f"tensor '{name}': BYTES data ends before element {i} of {count}")
        (size,) = _LEN.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise invalid_arg(
                f"tensor '{name}': BYTES element {i} claims {size} bytes, "
                f"only {len(view) - pos} remain"
            )
        out[i] = bytes(view[pos : pos + size])
        pos += size
    if pos != len(view):
        raise invalid_arg(
            f"tensor '{name}': {len(view) - pos} bytes left after {count} BYTES elements"
        )
    return out
