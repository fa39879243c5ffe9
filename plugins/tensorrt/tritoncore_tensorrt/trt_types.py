"""TensorRT ``DataType`` member names <-> Triton datatypes: the plugin's one table.

Keyed by the enum member's *name* (``trt.DataType.FLOAT.name == "FLOAT"``) so that this
module, and everything that plans with it, works without TensorRT installed.
"""

from __future__ import annotations

from tritoncore.errors import unsupported

TRT_TYPES: dict[str, str] = {
    "FLOAT": "FP32",
    "HALF": "FP16",
    "BF16": "BF16",
    "INT8": "INT8",
    "INT32": "INT32",
    "INT64": "INT64",
    "UINT8": "UINT8",
    "BOOL": "BOOL",
}


def triton_datatype(trt_name: str, what: str) -> str:
    """The Triton wire name of a TensorRT DataType name; UNSUPPORTED (FP8, INT4...) naming
    ``what``."""
    try:
        return TRT_TYPES[trt_name]
    except KeyError:
        raise unsupported(f"{what} has TensorRT type {trt_name}, which the TensorRT backend does "
                          f"not support (supported: {', '.join(TRT_TYPES)})") from None
