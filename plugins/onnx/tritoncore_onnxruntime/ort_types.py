"""ONNX Runtime's tensor type strings <-> Triton datatypes: the plugin's one table."""

from __future__ import annotations

from tritoncore.errors import unsupported

#: ``NodeArg.type`` -> Triton wire name. BF16 is left out: the onnxruntime Python API
#: has no numpy bfloat16 to feed or fetch it with.
ORT_TYPES: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
_ORT_NAMES = {triton: ort for ort, triton in ORT_TYPES.items()}


def triton_datatype(ort_type: str, what: str) -> str:
    """The Triton wire name of an ONNX Runtime type string; UNSUPPORTED naming ``what``."""
    try:
        return ORT_TYPES[ort_type]
    except KeyError:
        raise unsupported(
            f"{what} has ONNX type {ort_type}, which the ONNX Runtime backend does not "
            f"support (supported: {', '.join(sorted(ORT_TYPES))})"
        ) from None


def ort_type(datatype: str) -> str:
    """The ONNX Runtime type string of a Triton datatype ("" when there is none)."""
    return _ORT_NAMES.get(datatype, "")
