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


def config(**fields: Any) -> pb.ModelConfig:
    return pb.ModelConfig({"name": "m", "input": [], "output": [], **fields})


def test_max_batch_size_may_be_raised_not_lowered() -> None:
    c = config(max_batch_size=4)
    c.set_max_batch_size(16)  # Triton 2.51 loads this model with 16
    assert c.as_dict()["max_batch_size"] == 16
    with pytest.raises(ValueError, match="sets max_batch_size 16, auto_complete_config asks"):
        c.set_max_batch_size(8)


@pytest.mark.parametrize("scheduler", ["sequence_batching", "ensemble_scheduling"])
def test_dynamic_batching_cannot_replace_another_scheduler(scheduler: str) -> None:
    with pytest.raises(ValueError, match=f"uses {scheduler}"):
        config(**{scheduler: {}}).set_dynamic_batching()
    c = config(dynamic_batching={"max_queue_delay_microseconds": 5})
    c.set_dynamic_batching()
    assert c.as_dict()["dynamic_batching"] == {"max_queue_delay_microseconds": 5}


def test_inputs_merge_with_the_configuration_by_triton_s_rules() -> None:
    c = config(input=[{"name": "A", "data_type": "TYPE_INVALID", "dims": []}])
    c.add_input({"name": "A", "data_type": "TYPE_FP32", "dims": [4], "optional": True})
    c.add_input({"name": "B", "data_type": "TYPE_INT64", "dims": [-1]})
    assert c.as_dict()["input"] == [
        {"name": "A", "data_type": "TYPE_FP32", "dims": [4], "optional": True},
        {"name": "B", "data_type": "TYPE_INT64", "dims": [-1]}]
    for bad, match in [
        ({"name": "A", "data_type": "TYPE_FP16", "dims": [4]}, "data_type TYPE_FP16, the "),
        ({"name": "A", "data_type": "TYPE_FP32", "dims": [5]}, r"dims \[5\], the configuration"),
        ({"name": "A", "data_type": "TYPE_FP32", "dims": [4], "optional": False}, "optional"),
        ({"name": "C", "dims": [1]}, "has no 'data_type'"),
        ({"name": "C", "data_type": "TYPE_FP32", "dims": [1], "format": "x"}, r"\['format'\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            c.add_input(bad)
    with pytest.raises(ValueError, match=r"\['optional'\]"):
        c.add_output({"name": "O", "data_type": "TYPE_FP32", "dims": [1], "optional": True})


def test_transaction_policy_sets_only_decoupled() -> None:
    c = config()
    c.set_model_transaction_policy({"decoupled": True})
    assert c.as_dict()["model_transaction_policy"] == {"decoupled": True}
    with pytest.raises(ValueError, match="sets decoupled True"):
        c.set_model_transaction_policy({"decoupled": False})
    with pytest.raises(ValueError, match=r"\['other'\]"):
        c.set_model_transaction_policy({"other": 1})


def test_metric_kinds_refuse_what_they_do_not_have() -> None:
    counter = pb.MetricFamily("c", "d", pb.MetricFamily.COUNTER)
    histogram = pb.MetricFamily("h", "d", pb.MetricFamily.HISTOGRAM)
    with pytest.raises(pb.TritonModelException, match="a histogram's metrics need buckets"):
        histogram.Metric(labels={})
    with pytest.raises(pb.TritonModelException, match="a counter has no buckets"):
        counter.Metric(labels={}, buckets=[1.0])
    with pytest.raises(pb.TritonModelException, match="'c' is a counter: it has no observe"):
        counter.Metric().observe(1.0)
    with pytest.raises(pb.TritonModelException, match="'c' is a counter: it has no set"):
        counter.Metric().set(1.0)
    h = histogram.Metric(buckets=[1.0])
    for call in (lambda: h.increment(1), lambda: h.set(1), h.value):
        with pytest.raises(pb.TritonModelException, match="'h' is a histogram"):
            call()
    with pytest.raises(pb.TritonModelException, match="kind must be COUNTER, GAUGE or HISTOGRAM"):
        pb.MetricFamily("x", "d", 7)


def test_request_rescheduling_is_refused_as_unsupported() -> None:
    request = pb.InferenceRequest(model_name="m")
    request.set_release_flags(pb.TRITONSERVER_REQUEST_RELEASE_ALL)  # the default: accepted
    with pytest.raises(pb.TritonModelException) as info:
        request.set_release_flags(pb.TRITONSERVER_REQUEST_RELEASE_RESCHEDULE)
    assert info.value.code() == pb.TritonError.UNSUPPORTED
    assert info.value.message() == "request rescheduling is not supported by tritoncore"
