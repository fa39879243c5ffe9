"""The one table of Triton data types: config name, wire name, numpy dtype, element size.

BF16 has no numpy type; its elements are carried as raw ``uint16`` bit patterns.
BYTES elements are variable length: numpy ``object_`` arrays of ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tritoncore.errors import invalid_arg


@dataclass(frozen=True)
class DataType:
    """One row of the table."""

    name: str  # wire name: "FP32"
    numpy: np.dtype  # element type in memory
    byte_size: int  # 0 for variable-length BYTES
    code: int  # TRITONSERVER_DataType (= the ModelConfig DataType enum value)

    @property
    def config_name(self) -> str:
        """The ModelConfig enum name: ``TYPE_FP32``; BYTES is ``TYPE_STRING``."""
        return "TYPE_STRING" if self.name == "BYTES" else f"TYPE_{self.name}"

    @property
    def is_bytes(self) -> bool:
        return self.byte_size == 0

    @property
    def wire(self) -> np.dtype:
        """The element type as laid out on the wire (little-endian)."""
        return _WIRE[self.name]


TABLE: tuple[DataType, ...] = (
    DataType("BOOL", np.dtype(np.bool_), 1, 1),
    DataType("UINT8", np.dtype(np.uint8), 1, 2),
    DataType("UINT16", np.dtype(np.uint16), 2, 3),
    DataType("UINT32", np.dtype(np.uint32), 4, 4),
    DataType("UINT64", np.dtype(np.uint64), 8, 5),
    DataType("INT8", np.dtype(np.int8), 1, 6),
    DataType("INT16", np.dtype(np.int16), 2, 7),
    DataType("INT32", np.dtype(np.int32), 4, 8),
    DataType("INT64", np.dtype(np.int64), 8, 9),
    DataType("FP16", np.dtype(np.float16), 2, 10),
    DataType("FP32", np.dtype(np.float32), 4, 11),
    DataType("FP64", np.dtype(np.float64), 8, 12),
    DataType("BF16", np.dtype(np.uint16), 2, 14),
    DataType("BYTES", np.dtype(np.object_), 0, 13),
)

_BY_NAME = {t.name: t for t in TABLE}
_WIRE = {t.name: t.numpy.newbyteorder("<") for t in TABLE}
_BY_CONFIG = {t.config_name: t for t in TABLE}
_BY_CODE = {t.code: t for t in TABLE}
# numpy -> wire name; BF16 is never inferred from numpy (uint16 means UINT16).
_BY_NUMPY = {t.numpy: t for t in TABLE if t.name != "BF16"}


def by_name(name: str) -> DataType:
    """Look up a wire name such as ``FP32``; raises INVALID_ARG naming the valid ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise invalid_arg(
            f"unknown datatype '{name}'; expected one of {', '.join(_BY_NAME)}"
        ) from None


def by_config_name(name: str) -> DataType:
    """Look up a ModelConfig enum name such as ``TYPE_FP32``."""
    try:
        return _BY_CONFIG[name]
    except KeyError:
        raise invalid_arg(
            f"unknown data_type '{name}'; expected one of {', '.join(_BY_CONFIG)}"
        ) from None


def by_code(code: int) -> DataType:
    """Look up a TRITONSERVER_DataType / ModelConfig enum value such as 11 (FP32)."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise invalid_arg(f"unknown data type code {code}") from None


def from_numpy(dtype: np.dtype) -> DataType:
    """The Triton type of a numpy dtype (``bytes_``/``str_``/``object_`` are BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "SUO":
        return _BY_NAME["BYTES"]
    try:
        return _BY_NUMPY[dtype.newbyteorder("=")]
    except KeyError:
        raise invalid_arg(f"numpy dtype {dtype} has no Triton datatype") from None
