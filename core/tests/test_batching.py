"""Gathering inputs into a batch and splitting outputs back: exact, in order, as views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritoncore.errors import TritonError
from tritoncore.scheduling.batching import batch_sizes, gather, split
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor


def make(sizes: list[int], width: int) -> list[InferenceRequest]:
    out = []
    start = 0
    for size in sizes:
        data = np.arange(start, start + size * width, dtype=np.int64).reshape(size, width)
        out.append(InferenceRequest("m", {"X": Tensor.from_numpy("X", data)}))
        start += size * width
    return out


@given(st.lists(st.integers(1, 5), min_size=1, max_size=8), st.integers(1, 4))
def test_gather_then_split_returns_each_request_its_own_rows(sizes: list[int],
                                                             width: int) -> None:
    requests = make(sizes, width)
    batch = gather(requests, "X")
    assert batch.shape == (sum(sizes), width)
    assert batch_sizes(requests, "X") == sizes
    parts = split("Y", batch * 10, sizes)
    for request, part in zip(requests, parts):
        assert np.array_equal(part.as_numpy(), request.inputs["X"].as_numpy() * 10)
        assert part.name == "Y"
    result = batch * 10
    for part in split("Y", result, sizes):
        assert np.shares_memory(part.as_numpy(), result)


def test_gather_into_a_preallocated_buffer() -> None:
    requests = make([2, 1], 3)
    out = np.empty((3, 3), dtype=np.int64)
    assert gather(requests, "X", out=out) is out
    assert out.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_mismatched_shapes_and_sizes_are_errors() -> None:
    a = InferenceRequest("m", {"X": Tensor.from_numpy("X", np.zeros((1, 2)))})
    b = InferenceRequest("m", {"X": Tensor.from_numpy("X", np.zeros((1, 3)))})
    with pytest.raises(TritonError, match="disagree on its shape"):
        gather([a, b], "X")
    with pytest.raises(TritonError, match="batch size 3, the requests add up to 2"):
        split("Y", np.zeros((3, 1)), [1, 1])
