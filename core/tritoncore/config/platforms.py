"""The one table of backends: platform names, canonical platform, default model file, package.

Triton names a model's framework either with ``backend:`` or with ``platform:``
(``pytorch_libtorch``, ``onnxruntime_onnx``, ``tensorrt_plan``, ``ensemble``). tritoncore also
accepts a plain backend name as a platform (``platform: "pytorch"``); that is a tritoncore
extension, and such aliases are rewritten to the canonical platform so that the JSON config
shows what Triton would.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendRow:
    """One backend and every name that leads to it."""

    backend: str
    platform: str  # canonical platform Triton shows; "" where Triton shows none (python)
    model_filename: str  # default file (or directory) in a version directory; "" if none
    distribution: str | None  # pip distribution providing it; None if built into the core
    triton_platforms: tuple[str, ...] = ()  # other platform strings Triton itself accepts
    alias_platforms: tuple[str, ...] = ()  # tritoncore extension: plain names used as platform


TABLE: tuple[BackendRow, ...] = (
    BackendRow(
        "tensorrt",
        "tensorrt_plan",
        "model.plan",
        "tritoncore-tensorrt",
        alias_platforms=("tensorrt",),
    ),
    BackendRow(
        "onnxruntime",
        "onnxruntime_onnx",
        "model.onnx",
        "tritoncore-onnxruntime",
        alias_platforms=("onnxruntime", "onnx"),
    ),
    BackendRow(
        "pytorch",
        "pytorch_libtorch",
        "model.pt",
        "tritoncore-pytorch",
        triton_platforms=("libtorch",),
        alias_platforms=("pytorch",),
    ),
    BackendRow("python", "", "model.py", "tritoncore-python", alias_platforms=("python",)),
    BackendRow("ensemble", "ensemble", "", None),
)

ENSEMBLE = "ensemble"

_BY_BACKEND = {row.backend: row for row in TABLE}
_BY_PLATFORM: dict[str, BackendRow] = {}
for _row in TABLE:
    for _name in (_row.platform, *_row.triton_platforms, *_row.alias_platforms):
        if _name:
            _BY_PLATFORM[_name] = _row
_ALIASES = frozenset(a for row in TABLE for a in row.alias_platforms)


def row_for_backend(backend: str) -> BackendRow | None:
    """The table row of a backend name, or None for a backend the table does not know."""
    return _BY_BACKEND.get(backend)


def backend_for_platform(platform: str) -> str | None:
    """The backend a platform string means, or None if it is not a known platform."""
    row = _BY_PLATFORM.get(platform)
    return row.backend if row else None


def is_alias_platform(platform: str) -> bool:
    """True for tritoncore's extension aliases (``pytorch``, ``onnx``...); Triton rejects them."""
    return platform in _ALIASES


def canonical_platform(backend: str) -> str:
    """The platform Triton shows for a backend ("" when it shows none, or for unknown backends)."""
    row = _BY_BACKEND.get(backend)
    return row.platform if row else ""


def default_model_filename(backend: str) -> str:
    """The file (or directory) a version directory holds by default; "" if the backend has none."""
    row = _BY_BACKEND.get(backend)
    return row.model_filename if row else ""


def distribution_for(backend: str) -> str | None:
    """The pip distribution that provides a known backend; None if built in or unknown."""
    row = _BY_BACKEND.get(backend)
    return row.distribution if row else None


def backend_for_model_file(filename: str) -> str | None:
    """The backend whose default model file is ``filename`` (used when a config names none)."""
    for row in TABLE:
        if row.model_filename and row.model_filename == filename:
            return row.backend
    return None


def known_platforms() -> list[str]:
    """Every platform string accepted, Triton's first, then tritoncore aliases."""
    triton = [p for row in TABLE for p in (row.platform, *row.triton_platforms) if p]
    return triton + sorted(_ALIASES)
