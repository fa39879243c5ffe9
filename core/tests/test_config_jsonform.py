"""The /config JSON form against what the real Triton 2.51 returned.

The golden files in data/triton251_config/ were captured from the real Triton 2.51.0 (CPU
build, python backend) with ``curl localhost:18000/v2/models/<m>/config``; the README there
says how. Each model's config.pbtxt goes through the same steps the server takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tritoncore.config import (
    ModelConfig,
    fill_defaults,
    parse_model_config_text,
    read_model_config,
    resolve_backend,
    to_json,
    to_json_dict,
)

GOLDEN = Path(__file__).parent / "data" / "triton251_config"
MODELS = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
# Triton printed this map in an order of its own; the content is compared as a dict.
UNORDERED_MAPS = {"dyndef"}


def served_config(model_dir: Path) -> ModelConfig:
    config = read_model_config(model_dir) or ModelConfig()
    resolve_backend(config, model_dir)
    return fill_defaults(config, model_name=model_dir.name, gpu_count=0)


@pytest.mark.parametrize("model", MODELS)
def test_json_equals_triton_251(model: str) -> None:
    want = (GOLDEN / model / "config.json").read_text()
    got = to_json(served_config(GOLDEN / model))
    assert json.loads(got) == json.loads(want)
    if model not in UNORDERED_MAPS:
        assert got == want  # byte for byte: key order, separators, number forms


def test_int64_values_are_json_numbers() -> None:
    config = parse_model_config_text(
        "max_batch_size: 8 input { dims: [ -1, 1099511627776 ] } "
        "dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 "
        "priority_queue_policy { key: 2 value { max_queue_size: 1 } } }"
    )
    form = to_json_dict(config)
    assert form["input"][0]["dims"] == [-1, 1099511627776]
    assert form["dynamic_batching"]["max_queue_delay_microseconds"] == 2**64 - 1
    assert list(form["dynamic_batching"]["priority_queue_policy"]) == ["2"]


def test_unset_messages_are_left_out_but_defaults_of_scalars_are_shown() -> None:
    form = to_json_dict(ModelConfig(name="m"))
    assert form["platform"] == "" and form["max_batch_size"] == 0
    assert form["input"] == [] and form["parameters"] == {}
    assert "optimization" not in form and "dynamic_batching" not in form


def test_floats_in_shortest_form() -> None:
    config = parse_model_config_text(
        "sequence_batching { direct { minimum_slot_utilization: 0.1 } control_input "
        "{ control { fp32_false_true: [ 0, 1, 2.5 ] } } }"
    )
    text = to_json(config)
    assert '"minimum_slot_utilization":0.1' in text
    assert '"fp32_false_true":[0,1,2.5]' in text


def test_enums_by_name() -> None:
    config = parse_model_config_text(
        "instance_group { kind: KIND_MODEL } input { data_type: TYPE_STRING }"
    )
    form = to_json_dict(config)
    assert form["instance_group"][0]["kind"] == "KIND_MODEL"
    assert form["input"][0]["data_type"] == "TYPE_STRING"
    assert form["input"][0]["format"] == "FORMAT_NONE"


def test_field_newer_than_triton_251_shown_only_when_set() -> None:
    config = parse_model_config_text(
        'platform: "ensemble" ensemble_scheduling { step { model_name: "a" } }'
    )
    assert "max_inflight_requests" not in to_json_dict(config)["ensemble_scheduling"]
    config.ensemble_scheduling.max_inflight_requests = 4
    assert to_json_dict(config)["ensemble_scheduling"]["max_inflight_requests"] == 4
