"""Batch tensors for backends: gather requests' inputs into one array, split outputs back.

Gathering writes each request's bytes once, straight into the batch array; splitting
returns views of the batch outputs (no copies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritoncore.errors import invalid_arg
from tritoncore.scheduling.request import InferenceRequest
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
