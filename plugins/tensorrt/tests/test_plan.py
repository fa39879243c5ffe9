"""What the TensorRT backend decides without TensorRT: config mapping, profiles, shapes."""

from __future__ import annotations

import pytest
from tritoncore.config import ModelConfig
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore_tensorrt.plan import (
    EngineIO,
    ProfileShape,
    batching_of,
    bind_inputs,
    check_config,
    complete_config,
    profile_for,
)
from tritoncore_tensorrt.trt_types import triton_datatype

P0 = ProfileShape((1, 3), (4, 3), (8, 3))
P1 = ProfileShape((1, 3), (16, 3), (32, 3))
DYNAMIC = [EngineIO("x", True, "FLOAT", (-1, 3), (P0, P1)),
           EngineIO("y", False, "HALF", (-1, 3))]
STATIC = [EngineIO("x", True, "INT32", (2, 2)), EngineIO("y", False, "INT32", (2, 2))]


def test_types_map_by_enum_name_and_unsupported_ones_are_named() -> None:
    assert triton_datatype("FLOAT", "t") == "FP32" and triton_datatype("BF16", "t") == "BF16"
    with pytest.raises(TritonError, match="tensor 'q' has TensorRT type FP8") as err:
        triton_datatype("FP8", "tensor 'q'")
    assert err.value.code is ErrorCode.UNSUPPORTED


def test_batching_is_the_smallest_profile_maximum_of_a_dynamic_first_dim() -> None:
    assert batching_of(DYNAMIC) == 8
    assert batching_of(STATIC) == 0


def test_auto_complete_fills_io_and_max_batch_size() -> None:
    config = ModelConfig(name="m")
    complete_config(config, DYNAMIC)
    assert config.max_batch_size == 8
    assert [(i.name, mc.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("x", "TYPE_FP32", [3])]
    assert [(o.name, mc.DataType.Name(o.data_type)) for o in config.output] == [
        ("y", "TYPE_FP16")]
    check_config(config, DYNAMIC)


def test_auto_complete_keeps_what_the_config_says() -> None:
    config = ModelConfig(name="m", max_batch_size=4)
    config.input.add(name="x", data_type=mc.TYPE_FP32, dims=[3])
    complete_config(config, DYNAMIC)
    assert config.max_batch_size == 4 and len(config.input) == 1 and len(config.output) == 1


@pytest.mark.parametrize("change, message", [
    (lambda c: setattr(c.input[0], "data_type", mc.TYPE_INT32), "'x' is TYPE_INT32 in the config"),
    (lambda c: c.input[0].dims.append(5), "'x' has dims [3, 5]"),
    (lambda c: setattr(c.input[0], "name", "z"), "input 'z' is not an input of the engine"),
    (lambda c: setattr(c, "max_batch_size", 9), "exceeds the engine's profiles (at most 8)"),
])
def test_a_config_contradicting_the_engine_is_named(change, message) -> None:  # type: ignore[no-untyped-def]
    config = ModelConfig(name="m")
    complete_config(config, DYNAMIC)
    change(config)
    with pytest.raises(TritonError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        check_config(config, DYNAMIC)


def test_batching_config_on_a_static_engine_is_refused() -> None:
    config = ModelConfig(name="m", max_batch_size=2)
    with pytest.raises(TritonError, match="set max_batch_size: 0"):
        check_config(config, STATIC)


def test_profiles_one_per_instance_or_as_the_group_lists() -> None:
    assert [profile_for(i, 2) for i in range(4)] == [0, 1, 0, 1]
    assert [profile_for(i, 3, ["2"]) for i in range(2)] == [2, 2]
    with pytest.raises(TritonError, match="profile '5' does not exist"):
        profile_for(0, 2, ["5"])


def test_shapes_within_the_profile_bind_and_others_are_explained() -> None:
    assert bind_inputs(DYNAMIC, {"x": (20, 3)}, profile=1) == {"x": (20, 3)}
    with pytest.raises(TritonError, match=r"dimension 0 is 20, outside \[1, 8\] of optimization "
                                          r"profile 0"):
        bind_inputs(DYNAMIC, {"x": (20, 3)}, profile=0)
    with pytest.raises(TritonError, match="'x' of the engine is missing"):
        bind_inputs(DYNAMIC, {}, profile=0)
    with pytest.raises(TritonError, match=r"must have shape \[2, 2\]"):
        bind_inputs(STATIC, {"x": (2, 3)}, profile=0)
