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


def test_shape_groups_and_run_groups_answer_each_request_once() -> None:
    from tritoncore.errors import ErrorCode, internal
    from tritoncore.scheduling.batching import run_groups, shape_groups

    requests = [make([1], w)[0] for w in (2, 3, 2, 3, 2)]
    groups = shape_groups(requests, batching=True)
    assert groups == [[0, 2, 4], [1, 3]]
    assert shape_groups(requests, batching=False) == [[0], [1], [2], [3], [4]]
    assert shape_groups(requests, True, alone=lambda r: r is requests[2]) == [[0, 4], [1, 3], [2]]

    def run(batch: list[InferenceRequest]) -> list[list[Tensor]]:
        if batch[0].inputs["X"].shape[1] == 3:
            raise ValueError("width 3 is not supported")
        return [[Tensor.from_numpy("Y", r.inputs["X"].as_numpy() + 1)] for r in batch]

    responses = run_groups(requests, groups, run, lambda exc: internal(f"failed: {exc}"))
    assert [r.error.message if r.error else None for r in responses] == [
        None, "failed: width 3 is not supported", None, "failed: width 3 is not supported", None]
    assert responses[1].error.code is ErrorCode.INTERNAL
    for request, response in zip(requests, responses):
        if response.error is None:
            assert np.array_equal(response.outputs[0].as_numpy(), request.inputs["X"].as_numpy() + 1)


def test_instance_cuda_stream_only_for_gpu_instances() -> None:
    from pathlib import Path

    from tritoncore.backend import InstanceContext, ModelContext
    from tritoncore.memory import gpu
    from tritoncore.protocol.model_config_pb2 import ModelConfig

    model = ModelContext("m", 1, ModelConfig(name="m"), Path("."))
    assert InstanceContext("m_0", "KIND_CPU", 0, 0, model).cuda_stream() is None
    assert InstanceContext("m_0", "KIND_MODEL", 0, 0, model).cuda_stream() is None
    on_gpu = InstanceContext("m_0", "KIND_GPU", 0, 0, model)
    stream = on_gpu.cuda_stream()
    assert stream is on_gpu.cuda_stream()  # made once, kept with the instance
    if gpu.new_stream(0) is None:  # this machine: no CUDA torch, no cupy
        assert stream is None
        gpu.limit_pools([(0, 1 << 20)])  # --cuda-memory-pool-byte-size: nothing to cap here
