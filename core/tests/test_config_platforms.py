"""The platform table and backend resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritoncore.config import (
    ModelConfig,
    backend_for_platform,
    canonical_platform,
    default_model_filename,
    distribution_for,
    is_alias_platform,
    resolve_backend,
)
from tritoncore.errors import ErrorCode, TritonError


@pytest.mark.parametrize(
    ("platform", "backend"),
    [
        ("tensorrt_plan", "tensorrt"),
        ("onnxruntime_onnx", "onnxruntime"),
        ("pytorch_libtorch", "pytorch"),
        ("libtorch", "pytorch"),
        ("ensemble", "ensemble"),
        ("pytorch", "pytorch"),
        ("onnxruntime", "onnxruntime"),
        ("onnx", "onnxruntime"),
        ("tensorrt", "tensorrt"),
        ("python", "python"),
        ("tensorflow_savedmodel", None),
    ],
)
def test_platform_to_backend(platform: str, backend: str | None) -> None:
    assert backend_for_platform(platform) == backend


def test_only_plain_backend_names_are_tritoncore_aliases() -> None:
    assert is_alias_platform("pytorch") and is_alias_platform("onnx")
    assert not is_alias_platform("pytorch_libtorch") and not is_alias_platform("ensemble")


@pytest.mark.parametrize(
    ("backend", "platform", "filename", "distribution"),
    [
        ("tensorrt", "tensorrt_plan", "model.plan", "tritoncore-tensorrt"),
        ("onnxruntime", "onnxruntime_onnx", "model.onnx", "tritoncore-onnxruntime"),
        ("pytorch", "pytorch_libtorch", "model.pt", "tritoncore-pytorch"),
        ("python", "", "model.py", "tritoncore-python"),
        ("ensemble", "ensemble", "", None),
    ],
)
def test_backend_rows(backend: str, platform: str, filename: str, distribution: str | None) -> None:
    assert canonical_platform(backend) == platform
    assert default_model_filename(backend) == filename
    assert distribution_for(backend) == distribution


def test_backend_field_wins_and_gets_its_canonical_platform() -> None:
    config = ModelConfig(backend="onnxruntime")
    assert resolve_backend(config) == "onnxruntime"
    assert (config.backend, config.platform) == ("onnxruntime", "onnxruntime_onnx")


def test_alias_platform_is_rewritten_to_the_canonical_one() -> None:
    config = ModelConfig(platform="pytorch")
    assert resolve_backend(config) == "pytorch"
    assert (config.backend, config.platform) == ("pytorch", "pytorch_libtorch")


def test_python_alias_leaves_platform_empty_as_triton_shows_it() -> None:
    config = ModelConfig(platform="python")
    assert resolve_backend(config) == "python"
    assert (config.backend, config.platform) == ("python", "")


def test_backend_with_free_form_platform_keeps_the_platform() -> None:
    config = ModelConfig(backend="mybackend", platform="custom-thing")
    assert resolve_backend(config) == "mybackend"
    assert config.platform == "custom-thing"


def test_ensemble_keeps_backend_empty() -> None:
    config = ModelConfig(platform="ensemble")
    assert resolve_backend(config) == "ensemble"
    assert (config.backend, config.platform) == ("", "ensemble")


def test_backend_found_from_the_default_model_file(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "model.onnx").mkdir()  # ONNX models may be directories
    config = ModelConfig()
    assert resolve_backend(config, tmp_path) == "onnxruntime"
    assert config.platform == "onnxruntime_onnx"


def test_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(TritonError) as info:
        resolve_backend(ModelConfig(name="m", platform="tensorflow_graphdef"))
    assert info.value.code is ErrorCode.INVALID_ARG
    assert "unknown platform 'tensorflow_graphdef'" in info.value.message
    assert "pytorch_libtorch" in info.value.message


def test_no_backend_anywhere_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(TritonError, match="names no backend or platform"):
        resolve_backend(ModelConfig(name="m"), tmp_path)
