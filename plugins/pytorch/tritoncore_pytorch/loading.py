"""Load a model file: TorchScript (``torch.jit.load``) or a ``torch.export`` program (.pt2).

Every failure becomes UNAVAILABLE with a message saying what the file is and what would work.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from tritoncore.errors import unavailable

EXPORT_SUFFIX = ".pt2"


def load_module(model: str, path: Path, device: torch.device | None) -> Any:
    """The callable module in ``path``, on ``device`` (None: where the file put it)."""
    if not path.exists():
        siblings = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise unavailable(
            f"model '{model}': model file {path} does not exist (the version directory holds "
            f"{siblings or 'nothing'}); put a TorchScript model.pt there, or set "
            "default_model_filename"
        )
    if path.is_dir():
        raise unavailable(f"model '{model}': {path} is a directory; the PyTorch backend "
                          "loads one TorchScript (.pt) or torch.export (.pt2) file")
    if path.suffix == EXPORT_SUFFIX:
        return _load_exported(model, path, device)
    return _load_torchscript(model, path, device)


def _load_torchscript(model: str, path: Path, device: torch.device | None) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
            return torch.jit.load(str(path), map_location=device)
    except Exception as exc:
        raise unavailable(
            f"model '{model}': {path.name} is not a loadable TorchScript model: "
            f"{_what_it_is(path)} ({_first_line(exc)})"
        ) from exc


def _load_exported(model: str, path: Path, device: torch.device | None) -> Any:
    try:
        program = torch.export.load(str(path))
        module = program.module()
    except Exception as exc:
        raise unavailable(
            f"model '{model}': {path.name} is not a loadable torch.export program: "
            f"{_what_it_is(path)} ({_first_line(exc)})"
        ) from exc
    if device is not None:
        module = module.to(device)
    return module


def _what_it_is(path: Path) -> str:
    """A guess at what the file really is, so the message says how to fix it."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return ("the file is not a PyTorch archive (corrupt, truncated, or another format); "
                "save the model with torch.jit.script(m).save('model.pt')")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("serialized_exported_program.json") or "/models/" in n for n in names):
        return ("it is a torch.export program; name it model.pt2 (or set "
                "default_model_filename: \"model.pt2\")")
    if any(n.endswith("/data.pkl") for n in names) and not any(
            n.endswith("/constants.pkl") for n in names):
        return ("it was written by torch.save (weights or a pickled nn.Module), which is not "
                "TorchScript; save it with torch.jit.script(m).save(...) or torch.jit.trace")
    return "the archive is not valid TorchScript (corrupt or written by an incompatible torch)"


def _first_line(exc: BaseException) -> str:
    """The framework's own words, first sentence only (torch appends paragraphs of advice)."""
    lines = str(exc).strip().splitlines()
    first = lines[0].split(". ", 1)[0].rstrip(".") if lines else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")
