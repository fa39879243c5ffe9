"""The backend-author helpers: config accessors, conversions, BatchedInstance, errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from tritoncore.backend import InstanceContext, ModelContext
from tritoncore.config import parse_model_config_text
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.tensor import Tensor
from tritoncore_sdk import (
    BatchedInstance,
    ModelConfigView,
    as_triton_error,
    datatype_of,
    error_response,
    numpy_dtype,
)

CONFIG = """
name: "m"
max_batch_size: 8
input [ { name: "X", data_type: TYPE_FP32, dims: [ 2 ] } ]
output [ { name: "Y", data_type: TYPE_FP32, dims: [ 2 ] },
         { name: "B", data_type: TYPE_BF16, dims: [ 2 ] } ]
parameters { key: "scale" value { string_value: "3" } }
parameters { key: "fast" value { string_value: "yes" } }
"""


def view() -> ModelConfigView:
    return ModelConfigView(parse_model_config_text(CONFIG))


def test_config_view_reads_specs_and_typed_parameters() -> None:
    v = view()
    assert v.batching and v.max_batch_size == 8 and not v.decoupled
    assert [(s.name, s.datatype, s.dims) for s in v.outputs] == [("Y", "FP32", (2,)),
                                                                  ("B", "BF16", (2,))]
    assert v.parameter("scale", 1.0) == 3.0 and v.parameter("fast", False) is True
    assert v.parameter("missing", 7) == 7
    with pytest.raises(TritonError, match="parameter 'fast' is 'yes', which is not a valid int"):
        v.parameter("fast", 0)


def test_conversions_come_from_the_one_table() -> None:
    assert numpy_dtype("BF16") == np.uint16 and numpy_dtype("BYTES") == np.object_
    assert datatype_of(np.float16) == "FP16" and datatype_of(np.dtype("S3")) == "BYTES"


def test_errors_keep_codes_and_add_context() -> None:
    kept = TritonError(ErrorCode.NOT_FOUND, "x")
    assert as_triton_error(kept, "ctx") is kept
    wrapped = as_triton_error(ValueError("bad"), "model 'm'")
    assert wrapped.code is ErrorCode.INTERNAL and wrapped.message == "model 'm': ValueError: bad"
    assert error_response("nope", ErrorCode.UNAVAILABLE).error.code is ErrorCode.UNAVAILABLE


class Scale(BatchedInstance):
    calls: list[int] = []

    def compute(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        x = inputs["X"]
        Scale.calls.append(x.shape[0])
        if (x < 0).any():
            raise ValueError("negative input")
        return {"Y": x * 3, "B": np.zeros(x.shape, np.uint16)}


def instance() -> Scale:
    config = parse_model_config_text(CONFIG)
    ctx = InstanceContext("m_0", "KIND_CPU", 0, 0, ModelContext("m", 1, config, Path(".")))
    return Scale(ctx, "scale")


def request(rows: int, start: float) -> InferenceRequest:
    x = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2) + start
    return InferenceRequest("m", {"X": Tensor.from_numpy("X", x)})


def test_batched_instance_computes_once_and_splits_back_in_order() -> None:
    Scale.calls.clear()
    reqs = [request(1, 0), request(3, 100), request(2, 200)]
    responses = instance().execute(reqs)
    assert Scale.calls == [6]
    for req, resp in zip(reqs, responses):
        y = {t.name: t for t in resp.outputs}
        np.testing.assert_array_equal(y["Y"].as_numpy(), req.inputs["X"].as_numpy() * 3)
        assert y["B"].datatype == "BF16" and y["B"].shape[0] == req.inputs["X"].shape[0]


def test_compute_failures_become_errors_naming_the_instance() -> None:
    with pytest.raises(TritonError, match="model 'm' instance 'm_0': ValueError: negative"):
        instance().execute([request(1, -5), request(1, 0)])
