"""Each validation rule, with the part of the message that tells the user what to fix."""

from __future__ import annotations

import pytest
from tritoncore.config import fill_defaults, parse_model_config_text, validate
from tritoncore.errors import ErrorCode, TritonError

IO = (
    'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ] '
    'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ] '
)
INSTALLED = ("python", "ensemble")


def check(
    text: str, *, model_name: str = "m", installed=INSTALLED, gpu_count: int = 0
) -> list[str]:
    config = parse_model_config_text(text)
    return validate(
        config, model_name=model_name, installed_backends=installed, gpu_count=gpu_count
    )


def rejects(text: str, fragment: str, **kwargs) -> str:
    with pytest.raises(TritonError) as info:
        check(text, **kwargs)
    assert info.value.code is ErrorCode.INVALID_ARG
    assert fragment in info.value.message
    assert info.value.message.startswith("model 'm': ")
    return info.value.message


def test_a_good_config_passes() -> None:
    assert check('name: "m" backend: "python" max_batch_size: 4 dynamic_batching {} ' + IO) == []


def test_filled_defaults_pass() -> None:
    config = fill_defaults(parse_model_config_text('backend: "python" ' + IO), model_name="m")
    assert validate(config, model_name="m", installed_backends=INSTALLED) == []


def test_name_must_match_directory() -> None:
    rejects(
        'name: "other" backend: "python" ' + IO,
        "config.pbtxt says name: \"other\" but the model directory is 'm'; the name must equal",
    )


def test_missing_data_type() -> None:
    rejects('backend: "python" input { name: "x" dims: [1] }', "input 'x' must specify 'data_type'")


def test_unknown_data_type_number() -> None:
    rejects(
        'backend: "python" input { name: "x" data_type: 99 dims: [1] }',
        "input 'x' has unknown data type 99",
    )


def test_empty_dims() -> None:
    rejects(
        'backend: "python" input { name: "x" data_type: TYPE_FP32 }',
        "input 'x' must specify 'dims'",
    )


def test_empty_dims_allowed_with_reshape() -> None:
    assert (
        check(
            'backend: "python" max_batch_size: 2 input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [] } }'
        )
        == []
    )


@pytest.mark.parametrize("dim", ["0", "-2"])
def test_bad_dim(dim: str) -> None:
    rejects(
        f'backend: "python" output {{ name: "y" data_type: TYPE_FP32 dims: [ 3, {dim} ] }}',
        f"output 'y' has dims [3, {dim}]: each dimension must be >= 1, or -1",
    )


def test_reshape_must_keep_the_element_count() -> None:
    rejects(
        'backend: "python" input { name: "x" data_type: TYPE_FP32 dims: [ 2, 3 ] reshape { shape: [ 5 ] } }',
        "input 'x' has dims [2, 3] (6 elements) but reshape [5] (5 elements)",
    )


def test_negative_max_batch_size() -> None:
    rejects('backend: "python" max_batch_size: -1 ' + IO, "max_batch_size is -1; it must be >= 0")


def test_preferred_batch_size_needs_batching() -> None:
    rejects(
        'backend: "python" dynamic_batching { preferred_batch_size: [ 4 ] } ' + IO,
        "preferred_batch_size [4] needs batching, but max_batch_size is 0",
    )


def test_preferred_batch_size_within_max() -> None:
    rejects(
        'backend: "python" max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 2, 8 ] } '
        + IO,
        "preferred_batch_size 8 must be between 1 and max_batch_size (4)",
    )


def test_iterative_sequences_are_refused_as_not_supported() -> None:
    rejects(
        'backend: "python" max_batch_size: 2 sequence_batching { iterative_sequence: true } '
        + IO,
        "sequence_batching.iterative_sequence is not supported by tritoncore (its models "
        "reschedule their own requests, which tritoncore cannot do); remove it",
    )
    assert check('backend: "python" max_batch_size: 2 sequence_batching { '
                 'iterative_sequence: false } ' + IO) == []


def test_dynamic_batching_without_batching_is_only_a_warning() -> None:
    # Triton 2.51 loads such a model; tritoncore must too, and says it does nothing.
    (warning,) = check('backend: "python" dynamic_batching {} ' + IO)
    assert "dynamic_batching has no effect with max_batch_size 0" in warning


def test_default_priority_level_in_range() -> None:
    rejects(
        'backend: "python" max_batch_size: 2 dynamic_batching { priority_levels: 2 default_priority_level: 3 } '
        + IO,
        "default_priority_level must be between 1 and priority_levels (2), got 3",
    )


@pytest.mark.parametrize("kind", ["input", "output"])
def test_duplicate_tensor_names(kind: str) -> None:
    tensor = f'{kind} {{ name: "t" data_type: TYPE_FP32 dims: [1] }} '
    rejects('backend: "python" ' + tensor * 2, f"{kind} name 't' appears more than once")


def test_two_schedulers_are_refused_at_parse_time() -> None:
    with pytest.raises(
        TritonError, match="only one of dynamic_batching, sequence_batching, ensemble_scheduling"
    ):
        parse_model_config_text("dynamic_batching {} ensemble_scheduling {}")


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ('backend: "pytorch"', "tritoncore-pytorch"),
        ('platform: "pytorch_libtorch"', "tritoncore-pytorch"),
        ('platform: "onnxruntime_onnx"', "tritoncore-onnxruntime"),
        ('backend: "tensorrt"', "tritoncore-tensorrt"),
    ],
)
def test_known_but_missing_backend_says_what_to_install(source: str, package: str) -> None:
    message = rejects(source + " " + IO, f"pip install {package}")
    assert "installed backends: ensemble, python" in message


def test_missing_python_backend() -> None:
    rejects('backend: "python" ' + IO, "pip install tritoncore-python", installed=("ensemble",))


def test_unknown_backend_lists_installed_ones() -> None:
    rejects(
        'backend: "nosuch" ' + IO, "unknown backend 'nosuch'; installed backends: ensemble, python"
    )


def test_unknown_platform() -> None:
    rejects(
        'platform: "tensorflow_graphdef" ' + IO,
        "unknown platform 'tensorflow_graphdef'; known platforms:",
    )


def test_gpu_group_without_gpu() -> None:
    rejects(
        'backend: "python" instance_group { name: "x" kind: KIND_GPU } ' + IO,
        "instance group 'x' asks for KIND_GPU but this machine has no GPU",
    )


def test_gpu_group_with_gpu_is_fine_and_ids_are_checked() -> None:
    assert (
        check('backend: "python" instance_group { name: "x" kind: KIND_GPU } ' + IO, gpu_count=1)
        == []
    )
    rejects(
        'backend: "python" instance_group { name: "x" kind: KIND_GPU gpus: [ 3 ] } ' + IO,
        "instance group 'x' lists GPU 3 but this machine has GPUs 0..1",
        gpu_count=2,
    )


def test_cpu_group_cannot_list_gpus() -> None:
    rejects(
        'backend: "python" instance_group { name: "x" kind: KIND_CPU gpus: [ 0 ] } ' + IO,
        "instance group 'x' is KIND_CPU but lists gpus [0]",
    )


def test_ensemble_needs_its_steps() -> None:
    rejects('platform: "ensemble" ' + IO, "platform 'ensemble' needs an ensemble_scheduling block")
