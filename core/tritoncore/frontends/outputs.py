"""What a client asked of each output (classification, shared memory), applied to responses.

Shared by every frontend: the parameters are the same in HTTP and gRPC requests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tritoncore.errors import invalid_arg
from tritoncore.frontends.classification import classify, labels_for
from tritoncore.frontends.request_params import apply_request_parameters
from tritoncore.frontends.shm_io import ShmRef, output_to_shm, shm_ref, want_on_device
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor

CLASSIFICATION = "classification"


@dataclass(slots=True)
class OutputSpec:
    """One requested output: top-k classification and/or a shared-memory destination.

    ``binary`` is the HTTP ``binary_data`` parameter (None: the request's default);
    ``shm_params`` the ``shared_memory_*`` parameters as sent, which a gRPC response repeats.
    """

    name: str
    classification: int = 0
    shm: ShmRef | None = None
    binary: bool | None = None
    shm_params: dict[str, Any] | None = None


def output_spec(name: str, params: Mapping[str, Any] | None) -> OutputSpec:
    """Parse an output's parameters; INVALID_ARG naming the output when one is malformed."""
    if not params:
        return OutputSpec(name)
    what = f"output '{name}'"
    k = params.get(CLASSIFICATION, 0)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise invalid_arg(f"{what}: '{CLASSIFICATION}' must be a non-negative integer, got {k!r}")
    binary = params.get("binary_data")
    if binary is not None and not isinstance(binary, bool):
        raise invalid_arg(f"{what}: 'binary_data' must be a boolean, got {binary!r}")
    ref = shm_ref(what, params)
    echo = {key: v for key, v in params.items() if key.startswith("shared_memory_")} \
        if ref is not None else None
    return OutputSpec(name, k, ref, binary, echo)


def shm_destinations(specs: Mapping[str, OutputSpec] | None) -> tuple[tuple[str, ShmRef], ...]:
    """The outputs of ``specs`` bound for shared memory, as a kept request layout holds them."""
    return tuple((name, spec.shm) for name, spec in (specs or {}).items() if spec.shm is not None)


def apply_kept(server: Any, request: InferenceRequest, parameters: Mapping[str, Any] | None,
               specs: Mapping[str, OutputSpec] | None,
               shm_outputs: tuple[tuple[str, ShmRef], ...]) -> None:
    """What a kept layout (HTTP's or gRPC's) adds to each request decoded from it: the
    request's parameters, the outputs it asks for and their shared-memory destinations."""
    if parameters:
        apply_request_parameters(request, parameters)
    if specs:
        request.requested_outputs = list(specs)
    for name, ref in shm_outputs:
        want_on_device(server, request, name, ref)


_labels: dict[tuple[str, str, int], list[str]] = {}


def _cached_labels(config: Any, model_dir: Any, output: str) -> list[str]:
    """Labels of ``output``, re-read only when the label file changes."""
    spec = next((o for o in config.output if o.name == output), None)
    if spec is None or not spec.label_filename:
        return []
    path = os.path.join(str(model_dir), spec.label_filename)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return []
    key = (path, output, mtime)
    labels = _labels.get(key)
    if labels is None:
        labels = labels_for(config, model_dir, output)
        _labels[key] = labels
    return labels


def classified(loaded: Any, tensor: Tensor, spec: OutputSpec) -> Tensor:
    """``tensor`` as the top-k classification ``spec`` asks for (itself when none)."""
    if not spec.classification:
        return tensor
    config = loaded.config
    labels = _cached_labels(config, loaded.ctx.model_dir, tensor.name)
    return classify(tensor, spec.classification, labels, config.max_batch_size > 0)


def finish_output(server: Any, loaded: Any, tensor: Tensor, spec: OutputSpec | None) -> \
        tuple[Tensor, int | None]:
    """Apply classification and write to shared memory as ``spec`` asks.

    Returns the (possibly classified) tensor and the bytes written to shared memory (None
    when the output goes back in the response itself).
    """
    if spec is None:
        return tensor, None
    tensor = classified(loaded, tensor, spec)
    if spec.shm is not None:
        return tensor, output_to_shm(server, tensor, spec.shm)
    return tensor, None
