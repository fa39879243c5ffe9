"""Complete a model config from the ONNX model itself, as Triton's ONNX Runtime backend does.

* a config without inputs (outputs) gets every input (output) of the model, with its name,
  type and dims; a config that lists some keeps its list (a subset of outputs is legal), and
  only an entry's unset type or empty dims are filled;
* ``max_batch_size`` unset (0) and every input and output's first dimension dynamic: the model
  can batch, so ``max_batch_size`` becomes the backend's default-max-batch-size (4 unless
  ``--backend-config=default-max-batch-size=N``), and dynamic batching is turned on when
  that is > 1 and the config chose no scheduler;
* with ``max_batch_size > 0`` the first (batch) dimension is left out of ``dims``.
"""

from __future__ import annotations

import logging
from typing import Any

import onnxruntime as ort
from tritoncore.backend import AutoCompleteContext
from tritoncore.protocol.model_config_pb2 import DataType

from tritoncore_onnxruntime import files
from tritoncore_onnxruntime.ort_types import triton_datatype

log = logging.getLogger(__name__)


def model_io(path: Any) -> tuple[list[Any], list[Any]]:
    """The model's graph inputs (initializers excluded) and outputs, without optimizing it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    return session.get_inputs(), session.get_outputs()


def dims_of(shape: list[Any]) -> list[int]:
    """ONNX Runtime shapes hold ints, symbolic names or None; the latter two are -1."""
    return [d if isinstance(d, int) and d >= 0 else -1 for d in shape]


def complete(ctx: AutoCompleteContext) -> None:
    """Fill ``ctx.config`` in place; a model whose file cannot be read is left as is (the
    load that follows reports the file's problem)."""
    config = ctx.config
    filename = config.default_model_filename or files.DEFAULT_FILENAME
    path = files.latest_version_file(ctx.model_dir, filename)
    if path is None:
        return
    try:
        inputs, outputs = model_io(files.model_file(ctx.name, path))
    except Exception:  # noqa: BLE001 - load_model reports it with the full reason
        return
    if config.max_batch_size == 0 and _can_batch(inputs, outputs):
        config.max_batch_size = ctx.default_max_batch_size
        log.info("model '%s': max_batch_size auto-completed to %d (every input and output has "
                 "a dynamic first dimension); set max_batch_size to choose another",
                 ctx.name, config.max_batch_size)
        if config.max_batch_size > 1 and not _has_scheduler(config):
            config.dynamic_batching.SetInParent()
    batching = config.max_batch_size > 0
    _fill(ctx.name, "input", config.input, inputs, batching)
    _fill(ctx.name, "output", config.output, outputs, batching)


def _can_batch(inputs: list[Any], outputs: list[Any]) -> bool:
    args = [*inputs, *outputs]
    return bool(args) and all(a.shape and dims_of(a.shape)[0] == -1 for a in args)


def _has_scheduler(config: Any) -> bool:
    return any(config.HasField(f) for f in
               ("dynamic_batching", "sequence_batching", "ensemble_scheduling"))


def _fill(model: str, kind: str, entries: Any, args: list[Any], batching: bool) -> None:
    existing = {e.name: e for e in entries}
    add = not existing
    for arg in args:
        dims = dims_of(arg.shape)
        if batching and dims:
            dims = dims[1:]
        datatype = triton_datatype(arg.type, f"model '{model}': {kind} '{arg.name}'")
        config_type = DataType.Value("TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}")
        entry = existing.get(arg.name)
        if entry is None:
            if not add:
                continue
            entry = entries.add(name=arg.name, data_type=config_type)
            entry.dims.extend(dims)
            continue
        if entry.data_type == DataType.TYPE_INVALID:
            entry.data_type = config_type
        if not entry.dims and not entry.HasField("reshape"):
            entry.dims.extend(dims)
