"""Typed read access to a model's config: tensor specs, batching, parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from tritoncore import dtypes
from tritoncore.errors import invalid_arg

T = TypeVar("T")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the config: name, wire datatype and dims (without batch)."""

    name: str
    datatype: str  # wire name: "FP32", "BYTES"
    dims: tuple[int, ...]  # -1 for variable dimensions
    optional: bool = False

    @property
    def numpy_dtype(self) -> np.dtype:
        """The numpy dtype of this tensor's elements (BF16: uint16 bit patterns)."""
        return dtypes.by_name(self.datatype).numpy


def _specs(entries: Any) -> list[TensorSpec]:
    return [TensorSpec(e.name, dtypes.by_code(e.data_type).name, tuple(int(d) for d in e.dims),
                       bool(getattr(e, "optional", False))) for e in entries]


class ModelConfigView:
    """Read-only accessors over a ``ModelConfig`` message, so backends need no protobuf."""

    def __init__(self, config: Any) -> None:
        self.raw = config

    @property
    def name(self) -> str:
        return str(self.raw.name)

    @property
    def max_batch_size(self) -> int:
        return int(self.raw.max_batch_size)

    @property
    def batching(self) -> bool:
        """True when inputs carry a leading batch dimension (``max_batch_size > 0``)."""
        return self.max_batch_size > 0

    @property
    def decoupled(self) -> bool:
        return bool(self.raw.model_transaction_policy.decoupled)

    @property
    def inputs(self) -> list[TensorSpec]:
        return _specs(self.raw.input)

    @property
    def outputs(self) -> list[TensorSpec]:
        return _specs(self.raw.output)

    def output(self, name: str) -> TensorSpec:
        for spec in self.outputs:
            if spec.name == name:
                return spec
        raise invalid_arg(f"model '{self.name}' has no output '{name}' (outputs: "
                          f"{', '.join(s.name for s in self.outputs) or 'none'})")

    def parameter(self, key: str, default: T, convert: Callable[[str], T] | None = None) -> T:
        """``parameters { key: ... value { string_value: ... } }`` converted like ``default``.

        ``convert`` defaults to the type of ``default`` (bool accepts true/false/1/0/yes/no).
        A value that does not convert is an INVALID_ARG error naming the key.
        """
        entry = self.raw.parameters.get(key)
        if entry is None:
            return default
        text = entry.string_value
        fn: Callable[[str], Any] = convert or (_to_bool if isinstance(default, bool)
                                                else type(default))
        try:
            return fn(text)  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            raise invalid_arg(f"model '{self.name}': parameter '{key}' is {text!r}, which is "
                              f"not a valid {type(default).__name__}") from None


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
