"""``BatchedInstance``: write ``compute(arrays) -> arrays``; batching and responses are done.

``execute`` gathers each input of a batch of requests into one array (one copy, straight into
the batch, via ``tritoncore.scheduling.batching``), calls ``compute`` once, splits every
output back into per-request views and builds one response per request, in order. A model
that does not batch (``max_batch_size: 0``) gets one ``compute`` call per request.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import numpy as np
from tritoncore.backend import InstanceContext, ModelInstance
from tritoncore.errors import invalid_arg
from tritoncore.scheduling import batching
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

from tritoncore_sdk.config import ModelConfigView
from tritoncore_sdk.errors import as_triton_error
from tritoncore_sdk.log import model_logger


class BatchedInstance(ModelInstance):
    """Base class of a model instance that computes on numpy arrays.

    Subclasses implement :meth:`compute`; ``self.config`` and ``self.log`` are ready to use.
    Raise ``TritonError`` from ``compute`` to fail the batch with your own code and message;
    any other exception fails it as INTERNAL, naming the model and instance.
    """

    def __init__(self, ctx: InstanceContext, backend: str = "backend") -> None:
        self.ctx = ctx
        self.config = ModelConfigView(ctx.model.config)
        self.log = model_logger(backend, ctx.model.name, ctx.name)
        self._where = f"model '{ctx.model.name}' instance '{ctx.name}'"

    @abc.abstractmethod
    def compute(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """Map input arrays (batched along axis 0 when the model batches) to output arrays."""

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        if not self.config.batching or len(requests) == 1:
            return [self._one(r) for r in requests]
        names = [s.name for s in self.config.inputs if all(s.name in r.inputs for r in requests)]
        if not names:
            raise invalid_arg(f"{self._where}: a batch of requests with no common input")
        sizes = batching.batch_sizes(requests, names[0])
        arrays = {name: batching.gather(requests, name) for name in names}
        outputs = self._compute(arrays)
        per_request: list[list[Tensor]] = [[] for _ in requests]
        for name, array in outputs.items():
            datatype = self.config.output(name).datatype
            for i, tensor in enumerate(batching.split(name, np.asarray(array), sizes, datatype)):
                per_request[i].append(tensor)
        return [InferenceResponse(outputs=tensors) for tensors in per_request]

    def _one(self, request: InferenceRequest) -> InferenceResponse:
        arrays = {name: t.as_numpy() for name, t in request.inputs.items()}
        outputs = self._compute(arrays)
        return InferenceResponse(outputs=[
            Tensor.from_numpy(name, np.asarray(a), self.config.output(name).datatype)
            for name, a in outputs.items()])

    def _compute(self, arrays: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        try:
            return self.compute(arrays)
        except Exception as exc:
            raise as_triton_error(exc, self._where) from exc
