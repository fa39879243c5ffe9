"""Triton's defaults, as Triton 2.51 fills them for what /config shows."""

from __future__ import annotations

from tritoncore.config import (
    ModelConfig,
    ModelInstanceGroup,
    fill_defaults,
    parse_model_config_text,
)

Kind = ModelInstanceGroup.Kind


def python_model(text: str = "") -> ModelConfig:
    return parse_model_config_text('name: "m" backend: "python" ' + text)


def test_input_is_left_unchanged() -> None:
    config = python_model()
    fill_defaults(config)
    assert config == python_model()


def test_name_from_the_directory_when_missing() -> None:
    assert fill_defaults(ModelConfig(backend="python"), model_name="dir").name == "dir"
    assert fill_defaults(python_model(), model_name="dir").name == "m"


def test_version_policy_latest_one() -> None:
    assert fill_defaults(python_model()).version_policy.latest.num_versions == 1
    kept = fill_defaults(python_model("version_policy { all {} }")).version_policy
    assert kept.HasField("all")


def test_one_cpu_group_named_after_the_model() -> None:
    (group,) = fill_defaults(python_model()).instance_group
    assert (group.name, group.kind, group.count, list(group.gpus)) == ("m", Kind.KIND_CPU, 1, [])


def test_gpu_preferring_backend_gets_a_gpu_group_with_every_gpu() -> None:
    (group,) = fill_defaults(python_model(), gpu_count=2, default_kind=Kind.KIND_GPU).instance_group
    assert (group.kind, list(group.gpus)) == (Kind.KIND_GPU, [0, 1])


def test_gpu_preferring_backend_without_gpus_falls_back_to_cpu() -> None:
    (group,) = fill_defaults(python_model(), gpu_count=0, default_kind=Kind.KIND_GPU).instance_group
    assert group.kind == Kind.KIND_CPU


def test_explicit_groups_are_numbered_and_auto_resolved() -> None:
    config = python_model(
        'instance_group [ { count: 2 kind: KIND_AUTO }, { name: "x" kind: KIND_MODEL }, { kind: KIND_AUTO gpus: [ 1 ] } ]'
    )
    on_cpu = fill_defaults(config, gpu_count=0).instance_group
    assert [(g.name, g.kind, g.count) for g in on_cpu] == [
        ("m_0", Kind.KIND_CPU, 2),
        ("x", Kind.KIND_MODEL, 1),
        ("m_2", Kind.KIND_CPU, 1),
    ]
    on_gpu = fill_defaults(config, gpu_count=2).instance_group
    assert [(g.kind, list(g.gpus)) for g in on_gpu] == [
        (Kind.KIND_GPU, [0, 1]),
        (Kind.KIND_MODEL, []),
        (Kind.KIND_GPU, [1]),
    ]


def test_pinned_memory_on_and_default_file_name() -> None:
    filled = fill_defaults(python_model("optimization { graph { level: 1 } }"))
    assert filled.optimization.input_pinned_memory.enable
    assert filled.optimization.output_pinned_memory.enable
    assert filled.optimization.graph.level == 1
    assert filled.default_model_filename == "model.py"
    off = fill_defaults(python_model("optimization { input_pinned_memory { enable: false } }"))
    assert not off.optimization.input_pinned_memory.enable


def test_default_file_name_follows_the_platform() -> None:
    assert (
        fill_defaults(ModelConfig(platform="pytorch_libtorch")).default_model_filename == "model.pt"
    )
    assert (
        fill_defaults(python_model('default_model_filename: "x.py"')).default_model_filename
        == "x.py"
    )


def test_preferred_batch_size_defaults_to_max_batch_size() -> None:
    filled = fill_defaults(python_model("max_batch_size: 8 dynamic_batching {}"))
    assert list(filled.dynamic_batching.preferred_batch_size) == [8]
    unbatched = fill_defaults(python_model("dynamic_batching {}"))
    assert list(unbatched.dynamic_batching.preferred_batch_size) == []


def test_no_scheduler_is_added() -> None:
    # Triton 2.51 shows no dynamic_batching for an explicit config without one.
    assert not fill_defaults(python_model("max_batch_size: 8")).HasField("scheduling_choice")


def test_sequence_idle_defaults_to_one_second() -> None:
    filled = fill_defaults(python_model("max_batch_size: 2 sequence_batching {}"))
    assert filled.sequence_batching.max_sequence_idle_microseconds == 1_000_000
    assert not filled.sequence_batching.HasField("strategy_choice")


def test_ensemble_gets_no_groups_and_no_optimization() -> None:
    filled = fill_defaults(
        parse_model_config_text('name: "e" platform: "ensemble" ensemble_scheduling {}')
    )
    assert not filled.instance_group
    assert not filled.HasField("optimization")
    assert filled.HasField("model_transaction_policy")
    assert filled.default_model_filename == ""
