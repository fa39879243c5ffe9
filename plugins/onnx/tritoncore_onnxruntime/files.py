"""Where a version's ONNX model is: ``model.onnx`` as a file, or a directory holding
``model.onnx`` beside its external-data files (as Triton accepts)."""

from __future__ import annotations

from pathlib import Path

from tritoncore.errors import unavailable

DEFAULT_FILENAME = "model.onnx"


def model_file(model: str, path: Path) -> Path:
    """The .onnx file to open for ``<version>/<default_model_filename>``."""
    if path.is_dir():
        inner = path / DEFAULT_FILENAME
        if inner.is_file():
            return inner
        onnx_files = sorted(p.name for p in path.glob("*.onnx"))
        if len(onnx_files) == 1:
            return path / onnx_files[0]
        raise unavailable(
            f"model '{model}': {path} is a directory without {DEFAULT_FILENAME} (it holds "
            f"{sorted(p.name for p in path.iterdir()) or 'nothing'}); a model directory must "
            f"hold {DEFAULT_FILENAME} beside its external data files"
        )
    if not path.exists():
        holds = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise unavailable(
            f"model '{model}': model file {path} does not exist (the version directory holds "
            f"{holds or 'nothing'}); put an ONNX model there, or set default_model_filename"
        )
    return path


def latest_version_file(model_dir: Path, filename: str) -> Path | None:
    """The model file of the highest numeric version that has one (for auto-complete)."""
    versions = sorted((int(p.name) for p in model_dir.iterdir()
                       if p.is_dir() and p.name.isdigit() and not
                       (len(p.name) > 1 and p.name.startswith("0"))), reverse=True)
    for version in versions:
        candidate = model_dir / str(version) / filename
        if candidate.exists():
            return candidate
    return None
