"""The repository-level config.pbtxt (tritoncore extension): loading, checks and merging."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritoncore.config import (
    backend_settings,
    load_server_config,
    merge,
    model_overrides,
    parse_model_config_text,
    parse_server_config,
)
from tritoncore.errors import ErrorCode, TritonError

EXAMPLE = """
model_config_list: [ { config: { name: "m", platform: "pytorch", max_batch_size: 16 } } ]
backend_config: [ { backend: "python", parameters: { key: "shm-default-byte-size", value: "1048576" } } ]
"""


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text(EXAMPLE)
    config = load_server_config(path, known_models={"m", "n"})
    (override,) = model_overrides(config).values()
    assert (override.name, override.platform, override.max_batch_size) == ("m", "pytorch", 16)
    assert backend_settings(config) == {"python": {"shm-default-byte-size": "1048576"}}


def rejected(text: str, fragment: str, known: set[str] | None = None) -> None:
    with pytest.raises(TritonError) as info:
        parse_server_config(text, "repo/config.pbtxt", known)
    assert info.value.code is ErrorCode.INVALID_ARG
    assert fragment in info.value.message


def test_unknown_key_points_at_it() -> None:
    rejected(
        'model_config_list: [ { config: { name: "m" } } ]\nbackend_cfg: []',
        'repo/config.pbtxt:2:1: Message type "tritoncore.ServerConfig" has no field named "backend_cfg"',
    )


def test_entry_for_a_model_in_no_repository() -> None:
    rejected(
        EXAMPLE,
        "configures model 'm', which is in no model repository (models found: a, b)",
        {"a", "b"},
    )


def test_duplicate_model_entries() -> None:
    rejected(
        'model_config_list: [ { config: { name: "m" } }, { config: { name: "m" } } ]',
        "model_config_list has two entries for model 'm'",
    )


def test_entry_without_a_name() -> None:
    rejected(
        "model_config_list: [ { config: { max_batch_size: 2 } } ]", "entry 0 has no config.name"
    )


def test_duplicate_backend_entries_and_keys() -> None:
    rejected(
        'backend_config: [ { backend: "python" }, { backend: "python" } ]',
        "two entries for backend 'python'",
    )
    rejected(
        'backend_config: [ { backend: "python" parameters: [ { key: "a" value: "1" }, { key: "a" value: "2" } ] } ]',
        "backend_config for 'python' sets 'a' twice",
    )


def test_merge_override_wins_and_repeated_fields_replace() -> None:
    own = parse_model_config_text(
        'name: "m" backend: "python" max_batch_size: 4 '
        'input [ { name: "a" data_type: TYPE_FP32 dims: [ 1 ] }, { name: "b" data_type: TYPE_FP32 dims: [ 1 ] } ] '
        'instance_group { count: 2 } parameters { key: "k1" value { string_value: "1" } } '
        "dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 7 }"
    )
    override = parse_model_config_text(
        'name: "m" max_batch_size: 16 input [ { name: "c" data_type: TYPE_INT64 dims: [ 3 ] } ] '
        'parameters { key: "k2" value { string_value: "2" } } dynamic_batching { preferred_batch_size: [ 8 ] }'
    )
    merged = merge(own, override)
    assert merged.max_batch_size == 16 and merged.backend == "python"
    assert [i.name for i in merged.input] == ["c"]
    assert [g.count for g in merged.instance_group] == [2]
    assert set(merged.parameters) == {"k1", "k2"}
    assert list(merged.dynamic_batching.preferred_batch_size) == [8]
    assert merged.dynamic_batching.max_queue_delay_microseconds == 7
    assert own.max_batch_size == 4  # inputs untouched


def test_merge_switches_the_scheduler() -> None:
    own = parse_model_config_text('name: "m" max_batch_size: 2 dynamic_batching {}')
    merged = merge(own, parse_model_config_text('name: "m" sequence_batching {}'))
    assert merged.WhichOneof("scheduling_choice") == "sequence_batching"


def test_merge_stands_in_for_a_missing_config() -> None:
    override = parse_model_config_text('name: "m" platform: "pytorch" max_batch_size: 16')
    assert merge(None, override) == override
