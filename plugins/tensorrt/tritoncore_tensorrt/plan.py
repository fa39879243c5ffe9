"""Everything about serving an engine that needs no TensorRT: what the engine's I/O means for
the model config, which optimization profile an instance uses, whether a request's shapes fit
that profile, and the binding plan of one execution.

The engine side is described by plain dataclasses (``EngineIO``) that ``engine.py`` fills from
a real ``ICudaEngine``; tests fill them by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tritoncore import dtypes
from tritoncore.errors import invalid_arg

from tritoncore_tensorrt.trt_types import triton_datatype

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ProfileShape:
    """One optimization profile's bounds for one input (TensorRT's min/opt/max)."""

    min: Shape
    opt: Shape
    max: Shape


@dataclass(frozen=True)
class EngineIO:
    """One I/O tensor of an engine."""

    name: str
    is_input: bool
    trt_dtype: str  # DataType member name: "FLOAT"
    shape: Shape  # -1 for dynamic dimensions
    profiles: tuple[ProfileShape, ...] = ()  # inputs of dynamic engines: one per profile

    @property
    def datatype(self) -> str:
        return triton_datatype(self.trt_dtype, f"tensor '{self.name}'")


def batching_of(io: Sequence[EngineIO]) -> int:
    """The max_batch_size the engine supports: the smallest profile maximum of the first
    dimension when every tensor's first dimension is dynamic, else 0 (no batching)."""
    if not io or any(not t.shape or t.shape[0] != -1 for t in io):
        return 0
    maxima = [p.max[0] for t in io if t.is_input for p in t.profiles]
    return min(maxima) if maxima else 0


def complete_config(config: Any, io: Sequence[EngineIO]) -> None:
    """Fill a ModelConfig in place from the engine, as Triton does: inputs and outputs when the
    config has none, and max_batch_size when it is unset and the engine batches.

    Explicit config entries are never changed; contradictions are reported by
    :func:`check_config`.
    """
    from tritoncore.protocol import model_config_pb2 as mc

    mbs = batching_of(io)
    if config.max_batch_size == 0 and mbs > 1:
        config.max_batch_size = mbs
    batched = config.max_batch_size > 0
    for tensors, field in (([t for t in io if t.is_input], config.input),
                           ([t for t in io if not t.is_input], config.output)):
        if len(field):
            continue
        for t in tensors:
            entry = field.add()
            entry.name = t.name
            entry.data_type = mc.DataType.Value(dtypes.by_name(t.datatype).config_name)
            entry.dims.extend(t.shape[1:] if batched else t.shape)


def check_config(config: Any, io: Sequence[EngineIO]) -> None:
    """INVALID_ARG naming the tensor when the config and the engine disagree."""
    by_name = {t.name: t for t in io}
    batched = config.max_batch_size > 0
    if batched and batching_of(io) == 0:
        raise invalid_arg(f"model '{config.name}': max_batch_size is {config.max_batch_size} "
                          "but the engine has no dynamic first dimension on every tensor; set "
                          "max_batch_size: 0")
    if batched and config.max_batch_size > batching_of(io):
        raise invalid_arg(f"model '{config.name}': max_batch_size {config.max_batch_size} "
                          f"exceeds the engine's profiles (at most {batching_of(io)})")
    for entries, want_input in ((config.input, True), (config.output, False)):
        for entry in entries:
            what = "input" if want_input else "output"
            t = by_name.get(entry.name)
            if t is None or t.is_input != want_input:
                names = ", ".join(n for n, x in by_name.items() if x.is_input == want_input)
                raise invalid_arg(f"model '{config.name}': {what} '{entry.name}' is not an "
                                  f"{what} of the engine ({what}s: {names})")
            expected = dtypes.by_name(t.datatype).code
            if entry.data_type != expected:
                raise invalid_arg(
                    f"model '{config.name}': {what} '{entry.name}' is "
                    f"{dtypes.by_code(entry.data_type).config_name} in the config, "
                    f"{dtypes.by_name(t.datatype).config_name} in the engine")
            engine_dims = t.shape[1:] if batched else t.shape
            if len(entry.dims) != len(engine_dims) or any(
                    c != e and -1 not in (c, e) for c, e in zip(entry.dims, engine_dims)):
                raise invalid_arg(f"model '{config.name}': {what} '{entry.name}' has dims "
                                  f"{list(entry.dims)} in the config, {list(engine_dims)} in "
                                  "the engine" + (" (without the batch dimension)"
                                                  if batched else ""))


def profile_for(instance_index: int, profile_count: int,
                configured: Sequence[str] = ()) -> int:
    """The optimization profile an instance uses: the instance group's ``profile`` list if
    given (instances take its entries in turn), else one profile per instance in turn."""
    if profile_count < 1:
        raise invalid_arg("the engine has no optimization profile")
    if configured:
        choice = int(configured[instance_index % len(configured)])
        if not 0 <= choice < profile_count:
            raise invalid_arg(f"instance_group profile '{choice}' does not exist; the engine "
                              f"has profiles 0..{profile_count - 1}")
        return choice
    return instance_index % profile_count


def check_shape(name: str, shape: Shape, bounds: ProfileShape, profile: int) -> None:
    """INVALID_ARG when ``shape`` is outside profile ``profile``'s bounds for input ``name``."""
    if len(shape) != len(bounds.min):
        raise invalid_arg(f"input '{name}' has {len(shape)} dimensions {list(shape)}; the "
                          f"engine expects {len(bounds.min)}")
    for axis, (dim, lo, hi) in enumerate(zip(shape, bounds.min, bounds.max)):
        if not lo <= dim <= hi:
            raise invalid_arg(
                f"input '{name}' shape {list(shape)}: dimension {axis} is {dim}, outside "
                f"[{lo}, {hi}] of optimization profile {profile} (min {list(bounds.min)}, max "
                f"{list(bounds.max)})")


@dataclass(frozen=True)
class Binding:
    """What one execution binds: every input's shape and every output's byte size."""

    input_shapes: dict[str, Shape]
    output_shapes: dict[str, Shape]

    def output_nbytes(self, io: Sequence[EngineIO]) -> dict[str, int]:
        sizes = {}
        for t in io:
            if t.name in self.output_shapes:
                count = 1
                for d in self.output_shapes[t.name]:
                    count *= d
                sizes[t.name] = count * dtypes.by_name(t.datatype).byte_size
        return sizes


def bind_inputs(io: Sequence[EngineIO], shapes: dict[str, Shape], profile: int) -> dict[str,
                                                                                       Shape]:
    """Check every engine input is present and within the profile; the shapes to set."""
    out = {}
    for t in io:
        if not t.is_input:
            continue
        if t.name not in shapes:
            raise invalid_arg(f"input '{t.name}' of the engine is missing from the request")
        shape = tuple(shapes[t.name])
        if t.profiles:
            check_shape(t.name, shape, t.profiles[profile], profile)
        elif shape != t.shape:
            raise invalid_arg(f"input '{t.name}' must have shape {list(t.shape)}, got "
                              f"{list(shape)}")
        out[t.name] = shape
    return out
