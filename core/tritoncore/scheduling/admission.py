"""Checks a request against its model's config before it is queued."""

from __future__ import annotations

from typing import Any

from tritoncore import dtypes
from tritoncore.config.defaults import is_ensemble
from tritoncore.errors import invalid_arg
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.request import InferenceRequest


def _dims_match(expected: list[int], actual: tuple[int, ...]) -> bool:
    return len(expected) == len(actual) and all(e == -1 or e == a for e, a in zip(expected, actual))


def check_request(config: Any, request: InferenceRequest) -> None:
    """Raise INVALID_ARG with a message saying what to fix when ``request`` does not fit.

    Checks input names, missing inputs, datatypes, shapes (with the batch dimension when
    ``max_batch_size`` > 0), the batch size limit and requested output names.
    """
    model = config.name
    mbs = config.max_batch_size
    if ((request.correlation_id not in (0, "", None) or request.flags)
            and not config.HasField("sequence_batching") and not is_ensemble(config)):
        raise invalid_arg(
            f"model '{model}' is not configured for sequence batching: a request to it cannot "
            "carry a sequence ID or sequence_start/sequence_end"
        )
    declared = {i.name: i for i in config.input}
    for name in request.inputs:
        if name not in declared:
            raise invalid_arg(
                f"model '{model}' has no input '{name}'; its inputs are "
                f"{', '.join(declared) or 'none'}"
            )
    missing = [n for n, i in declared.items() if not i.optional and n not in request.inputs]
    if missing:
        raise invalid_arg(f"model '{model}': request is missing input(s) {', '.join(missing)}")
    batch: int | None = None
    for name, tensor in request.inputs.items():
        spec = declared[name]
        want = dtypes.by_config_name(mc.DataType.Name(spec.data_type)).name
        if tensor.datatype != want:
            raise invalid_arg(
                f"model '{model}': input '{name}' expects {want}, got {tensor.datatype}"
            )
        shape = tensor.shape
        if mbs > 0 and not spec.is_shape_tensor:
            if not shape:
                raise invalid_arg(
                    f"model '{model}': input '{name}' needs a batch dimension "
                    f"(shape [batch, {', '.join(map(str, spec.dims))}])"
                )
            if batch is not None and shape[0] != batch:
                raise invalid_arg(
                    f"model '{model}': inputs disagree on the batch size ({batch} vs "
                    f"{shape[0]} for '{name}')"
                )
            batch = shape[0]
            if not 1 <= batch <= mbs:
                raise invalid_arg(
                    f"model '{model}': batch size {batch} of input '{name}' is outside "
                    f"1..{mbs} (max_batch_size)"
                )
            shape = shape[1:]
        expected = list(spec.dims)
        if not _dims_match(expected, shape):
            full = ([-1] if mbs > 0 else []) + expected
            raise invalid_arg(
                f"model '{model}': input '{name}' has shape {list(tensor.shape)}, "
                f"the model expects {full} (-1 is any size)"
            )
    if request.requested_outputs:
        outputs = {o.name for o in config.output}
        for name in request.requested_outputs:
            if name not in outputs:
                raise invalid_arg(
                    f"model '{model}' has no output '{name}'; its outputs are "
                    f"{', '.join(outputs) or 'none'}"
                )

