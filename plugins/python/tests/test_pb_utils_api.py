"""Details of the ``pb_utils`` API checked against Triton 2.51's python backend (a probe model
run on both servers, 2026-11-25): the same names, types and refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tritoncore_python.stub import pb_utils as pb


def test_logger_level_constants_are_triton_s() -> None:
    levels = pb.Logger.LogLevel
    assert [int(pb.Logger.INFO), int(pb.Logger.WARNING), int(pb.Logger.ERROR),
            int(pb.Logger.VERBOSE)] == [0, 1, 2, 3]
    assert pb.Logger.WARNING is levels.WARNING
    assert str(pb.Logger.INFO.name) == "INFO"


@pytest.mark.parametrize("value", [[1, 2], 5, "text", np.float32(3.0)])
def test_tensor_of_anything_but_an_array_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match=r"pb_utils.Tensor\('X', ...\) needs a numpy array"):
        pb.Tensor("X", value)


def test_tensor_of_a_zero_dim_array_has_an_empty_shape() -> None:
    assert pb.Tensor("X", np.array(3.0)).shape() == []


def test_serialize_byte_tensor_matches_triton() -> None:
    data = pb.serialize_byte_tensor(np.array([b"ab", b"c"], dtype=np.object_))
    assert isinstance(data, bytes)
    assert bytes(data) == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    assert pb.deserialize_bytes_tensor(data).tolist() == [b"ab", b"c"]
    assert pb.serialize_byte_tensor(np.array([], dtype=np.object_)) == ()


def test_api_misuse_raises_triton_model_exception() -> None:
    with pytest.raises(pb.TritonModelException, match="only requests given to execute"):
        pb.InferenceRequest("m").get_response_sender()
    assert issubclass(pb.TritonModelException, pb.TritonError)
    assert pb.TritonModelException("x").message() == "x"


def test_what_a_raising_model_reports() -> None:
    from tritoncore_python.stub.runner import error_tuple

    assert error_tuple(pb.TritonModelException("raised")) == (
        pb.TritonError.INTERNAL, "TritonModelException: raised")
    assert error_tuple(pb.TritonError("gone", pb.TritonError.NOT_FOUND)) == (
        pb.TritonError.NOT_FOUND, "gone")
    assert error_tuple(ValueError("plain")) == (pb.TritonError.INTERNAL, "ValueError: plain")
