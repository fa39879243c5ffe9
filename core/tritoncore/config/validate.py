"""Check a model config and say what to fix.

Every problem is a TritonError INVALID_ARG whose message starts with ``model '<name>':``.
``validate`` returns warnings for configs Triton accepts but that do nothing useful.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from typing import NoReturn

from tritoncore import dtypes
from tritoncore.config import platforms
from tritoncore.config.defaults import is_ensemble
from tritoncore.errors import TritonError, invalid_arg
from tritoncore.protocol.model_config_pb2 import DataType, ModelConfig, ModelInstanceGroup

Kind = ModelInstanceGroup.Kind


class _Checker:
    """Collects the context every message needs."""

    def __init__(self, config: ModelConfig, model_name: str | None) -> None:
        self.config = config
        self.model = model_name or config.name
        self.warnings: list[str] = []

    def fail(self, message: str) -> NoReturn:
        raise invalid_arg(f"model '{self.model}': {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(f"model '{self.model}': {message}")


def _check_name(c: _Checker, model_name: str | None) -> None:
    name = c.config.name
    if model_name is not None and name and name != model_name:
        c.fail(
            f"config.pbtxt says name: \"{name}\" but the model directory is '{model_name}'; "
            "the name must equal the directory name (rename one, or remove the name field)"
        )


def _check_data_type(c: _Checker, what: str, value: int) -> None:
    if value == DataType.TYPE_INVALID:
        c.fail(f"{what} must specify 'data_type' (e.g. data_type: TYPE_FP32)")
    try:
        name = DataType.Name(value)
    except ValueError:
        name = str(value)
    try:
        dtypes.by_config_name(name)
    except TritonError:
        valid = ", ".join(t.config_name for t in dtypes.TABLE)
        c.fail(f"{what} has unknown data type {name}; use one of {valid}")


def _check_shape(c: _Checker, what: str, dims: Sequence[int], field: str) -> None:
    for dim in dims:
        if dim < 1 and dim != -1:
            c.fail(
                f"{what} has {field} {list(dims)}: each dimension must be >= 1, "
                "or -1 for a variable-size dimension"
            )


def _check_reshape(c: _Checker, what: str, dims: Sequence[int], shape: Sequence[int]) -> None:
    _check_shape(c, what, shape, "reshape")
    if -1 in dims or -1 in shape:
        return
    if math.prod(dims) != math.prod(shape):
        c.fail(
            f"{what} has dims {list(dims)} ({math.prod(dims)} elements) but reshape "
            f"{list(shape)} ({math.prod(shape)} elements); they must hold the same elements"
        )


def _check_tensors(c: _Checker, kind: str, tensors: Iterable) -> None:
    seen: set[str] = set()
    for tensor in tensors:
        what = f"{kind} '{tensor.name}'"
        if not tensor.name:
            c.fail(f"a model {kind} has no name")
        if tensor.name in seen:
            c.fail(
                f"{kind} name '{tensor.name}' appears more than once; {kind} names must be unique"
            )
        seen.add(tensor.name)
        _check_data_type(c, what, tensor.data_type)
        has_reshape = tensor.HasField("reshape")
        if not tensor.dims and not has_reshape:
            c.fail(
                f"{what} must specify 'dims' (for a scalar: dims: [ 1 ] reshape: {{ shape: [ ] }})"
            )
        _check_shape(c, what, tensor.dims, "dims")
        if has_reshape:
            _check_reshape(c, what, tensor.dims, tensor.reshape.shape)


def _check_batching(c: _Checker) -> None:
    config = c.config
    mbs = config.max_batch_size
    if mbs < 0:
        c.fail(f"max_batch_size is {mbs}; it must be >= 0 (0 means the model does not batch)")
    if config.HasField("sequence_batching") and config.sequence_batching.iterative_sequence:
        c.fail("sequence_batching.iterative_sequence is not supported by tritoncore (its "
               "models reschedule their own requests, which tritoncore cannot do); remove it")
    if not config.HasField("dynamic_batching"):
        return
    batching = config.dynamic_batching
    for size in batching.preferred_batch_size:
        if mbs == 0:
            c.fail(
                f"dynamic_batching.preferred_batch_size {list(batching.preferred_batch_size)} "
                "needs batching, but max_batch_size is 0; set max_batch_size >= "
                f"{max(batching.preferred_batch_size)} or remove preferred_batch_size"
            )
        if size < 1 or size > mbs:
            c.fail(
                f"dynamic_batching.preferred_batch_size {size} must be between 1 and "
                f"max_batch_size ({mbs})"
            )
    if mbs == 0:
        c.warn("dynamic_batching has no effect with max_batch_size 0 (Triton accepts it too)")
    levels = batching.priority_levels
    if levels and not 1 <= batching.default_priority_level <= levels:
        c.fail(
            f"dynamic_batching.default_priority_level must be between 1 and priority_levels "
            f"({levels}), got {batching.default_priority_level}"
        )
    for level in batching.priority_queue_policy:
        if not 1 <= level <= levels:
            c.fail(
                f"dynamic_batching.priority_queue_policy has level {level}, outside 1.."
                f"{levels} (priority_levels)"
            )


def _check_backend(c: _Checker, installed: Collection[str]) -> None:
    config = c.config
    if is_ensemble(config):
        if not config.HasField("ensemble_scheduling"):
            c.fail("platform 'ensemble' needs an ensemble_scheduling block with its steps")
        if config.model_warmup:
            c.fail("an ensemble cannot have model_warmup; warm up its composing models instead")
        return
    backend = config.backend or platforms.backend_for_platform(config.platform)
    available = ", ".join(sorted(installed)) or "none"
    if not backend:
        if config.platform:
            c.fail(
                f"unknown platform '{config.platform}'; known platforms: "
                f"{', '.join(platforms.known_platforms())} (or set backend: instead)"
            )
        c.fail(f"the config names no backend or platform; set backend: (installed: {available})")
    if backend in installed:
        return
    distribution = platforms.distribution_for(backend)
    if distribution:
        c.fail(
            f"backend '{backend}' is not installed (installed backends: {available}); "
            f"install it with: pip install {distribution}"
        )
    c.fail(f"unknown backend '{backend}'; installed backends: {available}")


def _check_instance_groups(c: _Checker, gpu_count: int) -> None:
    for group in c.config.instance_group:
        label = group.name or "(unnamed)"
        if group.count < 0:
            c.fail(f"instance group '{label}' has count {group.count}; it must be >= 1")
        if group.kind in (Kind.KIND_CPU, Kind.KIND_MODEL) and group.gpus:
            c.fail(
                f"instance group '{label}' is {Kind.Name(group.kind)} but lists gpus "
                f"{list(group.gpus)}; remove gpus or use KIND_GPU"
            )
        if group.kind != Kind.KIND_GPU:
            continue
        if gpu_count == 0:
            c.fail(
                f"instance group '{label}' asks for KIND_GPU but this machine has no GPU; "
                "use kind: KIND_CPU (or KIND_AUTO to use a GPU when there is one)"
            )
        for gpu in group.gpus:
            if not 0 <= gpu < gpu_count:
                c.fail(
                    f"instance group '{label}' lists GPU {gpu} but this machine has GPUs "
                    f"0..{gpu_count - 1}"
                )


def validate(
    config: ModelConfig,
    *,
    model_name: str | None = None,
    installed_backends: Collection[str] = (),
    gpu_count: int = 0,
) -> list[str]:
    """Raise INVALID_ARG for the first problem in ``config``; return warnings otherwise.

    ``model_name`` is the model's directory name (checked against ``config.name``);
    ``installed_backends`` the backend names the server can load. Validate the config
    after ``resolve_backend`` and ``fill_defaults``.
    """
    checker = _Checker(config, model_name)
    _check_name(checker, model_name)
    _check_batching(checker)
    _check_tensors(checker, "input", config.input)
    _check_tensors(checker, "output", config.output)
    _check_backend(checker, installed_backends)
    _check_instance_groups(checker, gpu_count)
    return checker.warnings
