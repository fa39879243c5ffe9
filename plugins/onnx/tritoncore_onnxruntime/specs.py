"""The model's config inputs and outputs, checked against the ONNX model's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritoncore import dtypes
from tritoncore.errors import invalid_arg, unsupported
from tritoncore.protocol.model_config_pb2 import DataType

from tritoncore_onnxruntime.ort_types import ORT_TYPES, ort_type


@dataclass(frozen=True)
class TensorSpec:
    """One config input or output."""

    name: str
    datatype: str  # Triton wire name
    dims: tuple[int, ...]  # without the batch dimension
    reshape: tuple[int, ...] | None

    @classmethod
    def from_config(cls, model: str, kind: str, entry: Any) -> TensorSpec:
        datatype = dtypes.by_config_name(DataType.Name(entry.data_type)).name
        if not ort_type(datatype):
            raise unsupported(
                f"model '{model}': {kind} '{entry.name}' is {datatype}, which the ONNX Runtime "
                f"backend does not support (supported: "
                f"{', '.join(sorted(ORT_TYPES.values()))})"
            )
        return cls(entry.name, datatype, tuple(entry.dims),
                   tuple(entry.reshape.shape) if entry.HasField("reshape") else None)


def specs(config: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec.from_config(config.name, "input", i) for i in config.input],
            [TensorSpec.from_config(config.name, "output", o) for o in config.output])


def check_against_model(model: str, kind: str, config_specs: list[TensorSpec],
                        model_args: list[Any], batching: bool) -> None:
    """INVALID_ARG when a config entry names a tensor the model lacks, or disagrees with its
    type or rank."""
    by_name = {a.name: a for a in model_args}
    for spec in config_specs:
        arg = by_name.get(spec.name)
        if arg is None:
            raise invalid_arg(
                f"model '{model}': config {kind} '{spec.name}' is not an {kind} of the ONNX "
                f"model (its {kind}s: {', '.join(by_name) or 'none'})"
            )
        if arg.type != ort_type(spec.datatype):
            raise invalid_arg(
                f"model '{model}': {kind} '{spec.name}' is {ORT_TYPES.get(arg.type, arg.type)} "
                f"in the ONNX model, but the config says {spec.datatype}"
            )
        shape = spec.reshape if spec.reshape is not None else spec.dims
        rank = len(shape) + (1 if batching else 0)
        if arg.shape is not None and len(arg.shape) != rank:
            raise invalid_arg(
                f"model '{model}': {kind} '{spec.name}' has {len(arg.shape)} dimensions "
                f"{list(arg.shape)} in the ONNX model, but the config gives {rank} "
                f"({'batch + ' if batching else ''}{list(shape)}); "
                + ("with max_batch_size > 0 leave the batch dimension out of dims"
                   if batching else "set max_batch_size if the first dimension is the batch")
            )
