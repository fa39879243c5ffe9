"""Checks a request against its model's config before it is queued.

``Admission`` digests the config once per loaded version, so the per-request check is a
handful of dictionary lookups.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tritoncore import dtypes
from tritoncore.config.defaults import is_ensemble
from tritoncore.errors import invalid_arg
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.request import InferenceRequest


class InputSpec(NamedTuple):
    datatype: str
    dims: tuple[int, ...]
    optional: bool
    batched: bool  # has the batch dimension (max_batch_size > 0 and not a shape tensor)


def _fits(expected: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    if expected == actual:
        return True
    return len(expected) == len(actual) and all(e == -1 or e == a
                                                for e, a in zip(expected, actual))


_PASSED_LIMIT = 256


class Admission:
    """The checks of one model config: input names and types, shapes with the batch
    dimension, the batch size limit, requested outputs, sequence fields."""

    def __init__(self, config: Any) -> None:
        self.model = config.name
        self.max_batch_size = config.max_batch_size
        self.inputs = {
            i.name: InputSpec(dtypes.by_config_name(mc.DataType.Name(i.data_type)).name,
                              tuple(i.dims), i.optional,
                              config.max_batch_size > 0 and not i.is_shape_tensor)
            for i in config.input}
        self.required = [n for n, s in self.inputs.items() if not s.optional]
        self.outputs = dict.fromkeys(o.name for o in config.output)  # in config order
        self.sequences = config.HasField("sequence_batching") or is_ensemble(config)
        #: id -> layout of the frontends' kept layouts whose requests passed (each kept
        #: alive here, so its id is not reused meanwhile)
        self._passed: dict[int, object] = {}

    def check(self, request: InferenceRequest) -> None:
        """Raise INVALID_ARG with a message saying what to fix when ``request`` does not fit."""
        layout = request.layout
        if layout is not None and id(layout) in self._passed:
            return
        self._check(request)
        if layout is not None:
            if len(self._passed) >= _PASSED_LIMIT:
                self._passed.clear()
            self._passed[id(layout)] = layout

    def _check(self, request: InferenceRequest) -> None:
        model = self.model
        if (not self.sequences
                and (request.flags or request.correlation_id not in (0, "", None))):
            raise invalid_arg(
                f"model '{model}' is not configured for sequence batching: a request to it "
                "cannot carry a sequence ID or sequence_start/sequence_end")
        inputs = request.inputs
        specs = self.inputs
        batch: int | None = None
        for name, tensor in inputs.items():
            spec = specs.get(name)
            if spec is None:
                raise invalid_arg(f"model '{model}' has no input '{name}'; its inputs are "
                                  f"{', '.join(specs) or 'none'}")
            if tensor.datatype != spec.datatype:
                raise invalid_arg(f"model '{model}': input '{name}' expects {spec.datatype}, "
                                  f"got {tensor.datatype}")
            shape = tensor.shape
            if spec.batched:
                if not shape:
                    raise invalid_arg(
                        f"model '{model}': input '{name}' needs a batch dimension "
                        f"(shape [batch, {', '.join(map(str, spec.dims))}])")
                if batch is None:
                    batch = shape[0]
                    if not 1 <= batch <= self.max_batch_size:
                        raise invalid_arg(
                            f"model '{model}': batch size {batch} of input '{name}' is outside "
                            f"1..{self.max_batch_size} (max_batch_size)")
                elif shape[0] != batch:
                    raise invalid_arg(f"model '{model}': inputs disagree on the batch size "
                                      f"({batch} vs {shape[0]} for '{name}')")
                shape = shape[1:]
            if not _fits(spec.dims, shape):
                full = ([-1] if spec.batched else []) + list(spec.dims)
                raise invalid_arg(f"model '{model}': input '{name}' has shape "
                                  f"{list(tensor.shape)}, the model expects {full} "
                                  "(-1 is any size)")
        if len(inputs) < len(specs) and any(n not in inputs for n in self.required):
            missing = [n for n in self.required if n not in inputs]
            raise invalid_arg(f"model '{model}': request is missing input(s) {', '.join(missing)}")
        for name in request.requested_outputs or ():
            if name not in self.outputs:
                raise invalid_arg(f"model '{model}' has no output '{name}'; its outputs are "
                                  f"{', '.join(self.outputs) or 'none'}")
