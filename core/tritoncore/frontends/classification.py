"""Triton's classification extension: top-k of an output as ``"value:index[:label]"`` strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tritoncore.errors import invalid_arg
from tritoncore.tensor import Tensor


def labels_for(config: Any, model_dir: Path, output: str) -> list[str]:
    """The labels of ``output`` from its ``label_filename`` (one per line), or []."""
    for spec in config.output:
        if spec.name == output and spec.label_filename:
            return (model_dir / spec.label_filename).read_text().splitlines()
    return []


def classify(tensor: Tensor, k: int, labels: list[str], batched: bool) -> Tensor:
    """Replace ``tensor`` by its top ``k`` classes per batch item (BYTES ``[batch, k]``)."""
    if k < 1:
        raise invalid_arg(f"output '{tensor.name}': classification count must be >= 1, got {k}")
    if tensor.datatype in ("BYTES", "BOOL"):
        raise invalid_arg(f"output '{tensor.name}': cannot classify a {tensor.datatype} tensor")
    array = tensor.as_numpy()
    rows = array.reshape(array.shape[0], -1) if batched and array.ndim else array.reshape(1, -1)
    out = []
    for row in rows:
        order = np.argsort(-row.astype(np.float64), kind="stable")[: min(k, row.size)]
        for index in order:
            value = row[index].item()
            text = f"{value:f}:{index}" if isinstance(value, float) else f"{value}:{index}"
            if index < len(labels):
                text += f":{labels[index]}"
            out.append(text.encode())
    result = np.array(out, dtype=np.object_)
    shape = (rows.shape[0], len(out) // max(rows.shape[0], 1)) if batched else (len(out),)
    return Tensor(tensor.name, "BYTES", shape, result.reshape(shape))
