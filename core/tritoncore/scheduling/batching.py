"""Batch tensors for backends: group requests that can share a batch, gather their inputs
into one array, run each group once, split outputs back.

Gathering writes each request's bytes once, straight into the batch array; splitting
returns views of the batch outputs (no copies).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from tritoncore.errors import TritonError, invalid_arg
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor


def gather(requests: Sequence[InferenceRequest], name: str,
           out: np.ndarray | None = None) -> np.ndarray:
    """Input ``name`` of every request stacked along the first (batch) dimension.

    ``out`` may be a preallocated destination (pinned or shared memory) of the right shape.
    """
    arrays = [r.inputs[name].as_numpy() for r in requests]
    if len(arrays) == 1 and out is None:
        return arrays[0]
    rest = {a.shape[1:] for a in arrays}
    if len(rest) != 1:
        raise invalid_arg(f"input '{name}': requests of one batch disagree on its shape "
                          f"{sorted(rest)}")
    return np.concatenate(arrays, axis=0, out=out)


def batch_sizes(requests: Sequence[InferenceRequest], name: str) -> list[int]:
    """Each request's share of the batch (the first dimension of input ``name``)."""
    return [int(r.inputs[name].shape[0]) for r in requests]


def split(name: str, batch: np.ndarray, sizes: Sequence[int],
          datatype: str | None = None) -> list[Tensor]:
    """Views of ``batch`` cut along its first dimension into ``sizes``, one per request."""
    if sum(sizes) != batch.shape[0]:
        raise invalid_arg(f"output '{name}' has batch size {batch.shape[0]}, the requests "
                          f"add up to {sum(sizes)}")
    out = []
    start = 0
    for size in sizes:
        out.append(Tensor.from_numpy(name, batch[start : start + size], datatype))
        start += size
    return out


def shape_key(request: InferenceRequest, ragged: Collection[str] = ()) -> tuple[Any, ...]:
    """What must be equal for requests to share a batch: each input's name, datatype and
    non-batch shape (inputs in ``ragged`` may differ)."""
    return tuple(sorted((name, t.datatype, t.shape[1:]) for name, t in request.inputs.items()
                        if name not in ragged))


def shape_groups(requests: Sequence[InferenceRequest], batching: bool,
                 alone: Callable[[InferenceRequest], bool] | None = None) -> list[list[int]]:
    """Indices of the requests that can run as one batch (equal ``shape_key``); every request
    on its own when not ``batching`` or when ``alone(request)`` says so."""
    if not batching:
        return [[i] for i in range(len(requests))]
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(requests):
        key = (i,) if alone is not None and alone(r) else shape_key(r)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def run_groups(requests: Sequence[InferenceRequest], groups: list[list[int]],
               run: Callable[[list[InferenceRequest]], list[list[Tensor]]],
               failure: Callable[[Exception], TritonError]) -> list[InferenceResponse]:
    """One response per request: ``run`` each group once (it returns each request's outputs);
    a group that raises fails its own requests only, with ``failure(exc)``."""
    responses = [InferenceResponse()] * len(requests)
    for group in groups:
        try:
            for i, outputs in zip(group, run([requests[i] for i in group])):
                responses[i] = InferenceResponse(outputs=outputs)
        except Exception as exc:  # noqa: BLE001 - a failure fails this group only
            error = exc if isinstance(exc, TritonError) else failure(exc)
            for i in group:
                responses[i] = InferenceResponse(error=error)
    return responses
