"""The identity backend: ``OUTPUT<i>`` is ``INPUT<i>`` (by position in the config)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tritoncore.backend import Backend, InstanceContext, Model, ModelContext, ModelInstance
from tritoncore.errors import invalid_arg
from tritoncore.hookspecs import hookimpl
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

from tritoncore_identity.conformance import tritoncore_conformance_models  # noqa: F401 - a hook


class IdentityInstance(ModelInstance):
    def __init__(self, pairs: list[tuple[str, str]], delay_s: float) -> None:
        self.pairs = pairs
        self.delay_s = delay_s

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        if self.delay_s:
            time.sleep(self.delay_s)
        responses = []
        for request in requests:
            outputs = []
            for src, dst in self.pairs:
                tensor = request.inputs.get(src)
                if tensor is not None:
                    outputs.append(Tensor(dst, tensor.datatype, tensor.shape, tensor.data))
            responses.append(InferenceResponse(outputs=outputs))
        return responses


class IdentityModel(Model):
    def __init__(self, config: Any) -> None:
        if len(config.input) != len(config.output):
            raise invalid_arg(
                f"model '{config.name}': the identity backend needs as many outputs as inputs "
                f"(has {len(config.input)} inputs, {len(config.output)} outputs)"
            )
        self.pairs = [(i.name, o.name) for i, o in zip(config.input, config.output)]
        param = config.parameters.get("execute_delay_ms")
        self.delay_s = float(param.string_value) / 1000 if param else 0.0

    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        return IdentityInstance(self.pairs, self.delay_s)


class IdentityBackend(Backend):
    name = "identity"
    instance_kinds = ("KIND_CPU",)

    def load_model(self, ctx: ModelContext) -> Model:
        return IdentityModel(ctx.config)


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(IdentityBackend)
