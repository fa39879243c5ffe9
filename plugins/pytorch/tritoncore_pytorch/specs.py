"""The model's inputs and outputs as the backend needs them: name, types, dims, reshape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from tritoncore import dtypes
from tritoncore.protocol.model_config_pb2 import DataType

from tritoncore_pytorch.torch_types import torch_dtype


@dataclass(frozen=True)
class TensorSpec:
    """One config input or output."""

    name: str
    datatype: str  # Triton wire name, e.g. FP32
    dtype: torch.dtype
    dims: tuple[int, ...]  # without the batch dimension
    reshape: tuple[int, ...] | None  # what the model sees / produces instead of dims
    optional: bool = False

    @classmethod
    def from_config(cls, model: str, kind: str, entry: Any) -> TensorSpec:
        datatype = dtypes.by_config_name(DataType.Name(entry.data_type)).name
        return cls(
            name=entry.name,
            datatype=datatype,
            dtype=torch_dtype(datatype, f"model '{model}': {kind} '{entry.name}'"),
            dims=tuple(entry.dims),
            reshape=tuple(entry.reshape.shape) if entry.HasField("reshape") else None,
            optional=bool(getattr(entry, "optional", False)),
        )


def specs(config: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a ModelConfig; UNSUPPORTED for BYTES tensors."""
    return ([TensorSpec.from_config(config.name, "input", i) for i in config.input],
            [TensorSpec.from_config(config.name, "output", o) for o in config.output])


def dims_match(actual: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """True when ``actual`` fits ``expected``, where -1 matches any size."""
    return len(actual) == len(expected) and all(
        e == -1 or a == e for a, e in zip(actual, expected))
