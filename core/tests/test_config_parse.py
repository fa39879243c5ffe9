"""config.pbtxt text and JSON overrides into ModelConfig, round trips, and parse errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st
from tritoncore.config import (
    ModelConfig,
    parse_model_config_file,
    parse_model_config_json,
    parse_model_config_text,
    read_model_config,
    to_json,
)
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.protocol import model_config_pb2 as pb

GOLDEN = Path(__file__).parent / "data" / "triton251_config"

names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    min_size=1,
    max_size=12,
)
dims = st.lists(st.one_of(st.just(-1), st.integers(1, 2**40)), min_size=1, max_size=5)
data_types = st.sampled_from([v for v in pb.DataType.values() if v != pb.TYPE_INVALID])


@st.composite
def model_configs(draw: st.DrawFn) -> ModelConfig:
    config = ModelConfig(
        name=draw(names),
        backend=draw(st.sampled_from(["", "python", "pytorch", "onnxruntime"])),
        max_batch_size=draw(st.integers(0, 2**31 - 1)),
    )
    for _ in range(draw(st.integers(0, 4))):
        tensor = config.input.add(name=draw(names), data_type=draw(data_types), dims=draw(dims))
        tensor.optional = draw(st.booleans())
        if draw(st.booleans()):
            tensor.reshape.shape.extend(draw(dims))
    for _ in range(draw(st.integers(0, 4))):
        config.output.add(name=draw(names), data_type=draw(data_types), dims=draw(dims))
    for _ in range(draw(st.integers(0, 3))):
        config.instance_group.add(
            name=draw(st.one_of(st.just(""), names)),
            kind=draw(st.sampled_from(list(pb.ModelInstanceGroup.Kind.values()))),
            count=draw(st.integers(0, 64)),
            gpus=draw(st.lists(st.integers(0, 7), max_size=3)),
        )
    scheduler = draw(st.sampled_from(["none", "dynamic", "sequence"]))
    if scheduler == "dynamic":
        config.dynamic_batching.preferred_batch_size.extend(
            draw(st.lists(st.integers(1, 64), max_size=3))
        )
        config.dynamic_batching.max_queue_delay_microseconds = draw(st.integers(0, 2**64 - 1))
    elif scheduler == "sequence":
        config.sequence_batching.max_sequence_idle_microseconds = draw(st.integers(0, 2**64 - 1))
    for key in draw(st.lists(names, max_size=3)):
        config.parameters[key].string_value = draw(st.text(max_size=10))
    return config


@settings(max_examples=200, deadline=None)
@given(model_configs())
def test_text_round_trip(config: ModelConfig) -> None:
    assert parse_model_config_text(text_format.MessageToString(config)) == config


@settings(max_examples=200, deadline=None)
@given(model_configs())
def test_triton_json_round_trip(config: ModelConfig) -> None:
    assert parse_model_config_json(to_json(config)) == config


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_text_is_only_ever_invalid_arg(text: str) -> None:
    try:
        parse_model_config_text(text)
    except TritonError as e:
        assert e.code is ErrorCode.INVALID_ARG


TOKENS = [
    "name",
    ":",
    '"x"',
    "{",
    "}",
    "[",
    "]",
    ",",
    "<",
    ">",
    "input",
    "output",
    "dims",
    "-1",
    "99999999999999999999",
    "0x1F",
    "1e9",
    "nan",
    "-",
    "TYPE_FP32",
    "data_type",
    "KIND_GPU",
    "instance_group",
    "kind",
    "dynamic_batching",
    "sequence_batching",
    "parameters",
    "key",
    "value",
    "string_value",
    "max_batch_size",
    "#",
    "\n",
    "'",
    '"\\x',
    "[inference.x]",
    ";",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_garbage_made_of_config_tokens_is_only_ever_invalid_arg(text: str) -> None:
    try:
        parse_model_config_text(text)
    except TritonError as e:
        assert e.code is ErrorCode.INVALID_ARG


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "name",
                        "input",
                        "dims",
                        "max_batch_size",
                        "x",
                        "kind",
                        "instance_group",
                        "data_type",
                    ]
                ),
                inner,
                max_size=3,
            )
        ),
        max_leaves=10,
    )
)
def test_garbage_json_is_only_ever_invalid_arg(value: object) -> None:
    try:
        parse_model_config_json(json.dumps(value))
    except TritonError as e:
        assert e.code is ErrorCode.INVALID_ARG


def test_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text('name: "m"\nmax_batch_size: 4\n  bogus_field: 3\n')
    with pytest.raises(TritonError) as info:
        parse_model_config_file(path)
    assert info.value.code is ErrorCode.INVALID_ARG
    assert info.value.message.startswith(f"{path}:3:3: ")
    assert 'no field named "bogus_field"' in info.value.message


def test_bad_enum_value_is_pointed_at() -> None:
    with pytest.raises(TritonError, match=r"^config.pbtxt:1:20: .*TYPE_FOO"):
        parse_model_config_text("input { data_type: TYPE_FOO }")


def test_two_schedulers_get_a_clear_message() -> None:
    text = 'name: "m"\nmax_batch_size: 2\ndynamic_batching {}\nsequence_batching {}\n'
    with pytest.raises(TritonError) as info:
        parse_model_config_text(text, "m/config.pbtxt")
    assert info.value.message == (
        "m/config.pbtxt:4:1: 'dynamic_batching' and 'sequence_batching' are both set, but only "
        "one of dynamic_batching, sequence_batching, ensemble_scheduling may be; remove one"
    )


def test_two_schedulers_in_json_get_a_clear_message() -> None:
    with pytest.raises(TritonError, match="only one of dynamic_batching, sequence_batching"):
        parse_model_config_json('{"dynamic_batching": {}, "ensemble_scheduling": {}}')


def test_non_utf8_file_is_invalid_arg(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_bytes(b'name: "\xff"')
    with pytest.raises(TritonError, match="not UTF-8"):
        parse_model_config_file(path)


def test_json_accepts_tritons_form_and_protobufs() -> None:
    triton = parse_model_config_json(
        '{"max_batch_size": 4, "input": [{"name": "a", "dims": [4], "data_type": "TYPE_FP32"}]}'
    )
    protobuf = parse_model_config_json(
        '{"maxBatchSize": 4, "input": [{"name": "a", "dims": ["4"], "dataType": 11}]}'
    )
    assert triton == protobuf


def test_json_must_be_an_object() -> None:
    with pytest.raises(TritonError, match="must be a JSON object, got list"):
        parse_model_config_json("[1]")


@pytest.mark.parametrize("model", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_tritons_own_json_parses_back_to_the_same_json(model: str) -> None:
    body = (GOLDEN / model / "config.json").read_text()
    assert json.loads(to_json(parse_model_config_json(body))) == json.loads(body)


def test_read_model_config_prefers_the_named_config(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "config.pbtxt").write_text('name: "m" max_batch_size: 1')
    (tmp_path / "configs" / "big.pbtxt").write_text('name: "m" max_batch_size: 64')
    assert read_model_config(tmp_path, "big").max_batch_size == 64
    assert read_model_config(tmp_path, "missing").max_batch_size == 1
    assert read_model_config(tmp_path).max_batch_size == 1


def test_read_model_config_without_a_file_is_none(tmp_path: Path) -> None:
    assert read_model_config(tmp_path) is None
    assert read_model_config(tmp_path, "x") is None
