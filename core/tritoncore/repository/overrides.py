"""File overrides of a load request, written into a private directory with path checks."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from tritoncore.errors import invalid_arg

FILE_PREFIX = "file:"


def check_relative_path(model: str, rel: str) -> PurePosixPath:
    """A path that stays inside the model's directory, or INVALID_ARG saying why not."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or rel.startswith("\\") or ":" in path.parts[0]:
        raise invalid_arg(
            f"model '{model}': override file '{rel}' must be a relative path such as "
            "'1/model.onnx'"
        )
    if any(part in ("..", "") for part in path.parts) or "\\" in rel:
        raise invalid_arg(f"model '{model}': override file '{rel}' may not contain '..'")
    return path


def write_overrides(model: str, files: dict[str, bytes]) -> Path:
    """A new temporary model directory holding exactly ``files`` (relative path -> bytes).

    As in Triton, the overridden model is loaded from these files alone; the caller removes
    the directory when the model unloads.
    """
    root = Path(tempfile.mkdtemp(prefix=f"tritoncore-{model}-"))
    resolved_root = root.resolve()
    for rel, content in files.items():
        target = root / check_relative_path(model, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.resolve().is_relative_to(resolved_root):
            raise invalid_arg(f"model '{model}': override file '{rel}' leaves the model directory")
        target.write_bytes(content)
    return root

