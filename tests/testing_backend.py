"""A test-only backend, registered through the real ``tritoncore_register_backends`` hook.

Its behaviour is chosen per model by config parameters, and it records every lifecycle call
in ``EVENTS`` so tests can check what the core did:

* ``mode``: ``double`` (OUTPUT0 = 2 * INPUT0, default), ``raise``, ``short`` (no responses),
  ``decoupled`` (INPUT0[0] responses, then a final flag), ``sleep_input`` (like double, after
  sleeping INPUT0[0] ms), ``sequence`` (records every input, OUTPUT0 = STATE_OUT = STATE_IN +
  INPUT0).
* ``hand`` (mode): the callback form (``submit``) with a pipeline depth of ``depth``; each
  batch waits in ``HELD`` (requests, done) until the test answers it.
* ``delay_ms``: sleep in every execute; ``load_delay_ms``: sleep in load_model.
* ``fail_load``: raise in load_model with this message.
* ``autocomplete``: fill one FP32 input/output pair when the config has none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tritoncore.backend import (
    AutoCompleteContext,
    Backend,
    BatchDone,
    InstanceContext,
    Model,
    ModelContext,
    ModelInstance,
)
from tritoncore.hookspecs import hookimpl
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

EVENTS: list[tuple[Any, ...]] = []
HELD: list[tuple[list[InferenceRequest], BatchDone]] = []  # mode "hand": batches to answer
_LOCK = threading.Lock()


def record(*event: Any) -> None:
    with _LOCK:
        EVENTS.append(event)


def param(config: Any, key: str, default: str = "") -> str:
    p = config.parameters.get(key)
    return p.string_value if p is not None else default


class TestInstance(ModelInstance):
    def __init__(self, ctx: InstanceContext) -> None:
        self.ctx = ctx
        self.mode = param(ctx.model.config, "mode", "double")
        self.delay = float(param(ctx.model.config, "delay_ms", "0")) / 1000
        if self.mode == "hand":
            self.submit = self.hold
            self.pipeline_depth = int(param(ctx.model.config, "depth", "1"))

    def hold(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        HELD.append((requests, done))

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse] | None:
        start = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "sleep_input":  # sleep INPUT0[0] ms (the first request's)
            time.sleep(float(requests[0].inputs["INPUT0"].as_numpy().reshape(-1)[0]) / 1000)
        record("execute", self.ctx.model.name, self.ctx.model.version, self.ctx.name,
               start, time.monotonic(), len(requests), [r.id for r in requests])
        if self.mode == "sequence":  # record what arrived; STATE_OUT = STATE_IN + INPUT0
            responses = []
            for r in requests:
                seen = {n: t.as_numpy().reshape(-1)[0] for n, t in r.inputs.items()}
                seen = {n: v.item() if hasattr(v, "item") else v for n, v in seen.items()}
                record("sequence", self.ctx.name, r.correlation_id, seen)
                x = r.inputs["INPUT0"].as_numpy()
                state = r.inputs["STATE_IN"].as_numpy() + x
                responses.append(InferenceResponse(outputs=[
                    Tensor.from_numpy("OUTPUT0", state.copy()),
                    Tensor.from_numpy("STATE_OUT", state)]))
            return responses
        if self.mode == "raise":
            raise ValueError("boom")
        if self.mode == "short":
            return []
        if self.mode == "decoupled":
            for request in requests:
                n = int(request.inputs["INPUT0"].as_numpy().reshape(-1)[0])
                for i in range(n):
                    out = Tensor.from_numpy("OUTPUT0", np.array([i], dtype=np.float32))
                    request.send(InferenceResponse(outputs=[out]))
                request.send(None, final=True)
            return None
        return [InferenceResponse(outputs=[
            Tensor.from_numpy("OUTPUT0", r.inputs["INPUT0"].as_numpy() * 2)]) for r in requests]

    def finalize(self) -> None:
        record("instance_finalize", self.ctx.model.name, self.ctx.model.version, self.ctx.name)


class TestModel(Model):
    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx

    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        record("create_instance", ctx.model.name, ctx.model.version, ctx.name, ctx.kind)
        return TestInstance(ctx)

    def finalize(self) -> None:
        record("model_finalize", self.ctx.name, self.ctx.version)


class TestBackend(Backend):
    name = "testing"
    default_model_filename = "model.test"

    def initialize(self, backend_config: Mapping[str, str]) -> None:
        record("backend_initialize", dict(backend_config))

    def auto_complete_config(self, ctx: AutoCompleteContext) -> None:
        config = ctx.config
        if param(config, "autocomplete") and not config.input:
            config.input.add(name="INPUT0", data_type=mc.TYPE_FP32, dims=[-1])
            config.output.add(name="OUTPUT0", data_type=mc.TYPE_FP32, dims=[-1])
            config.max_batch_size = ctx.default_max_batch_size

    def load_model(self, ctx: ModelContext) -> Model:
        start = time.monotonic()
        delay = float(param(ctx.config, "load_delay_ms", "0")) / 1000
        if delay:
            time.sleep(delay)
        failure = param(ctx.config, "fail_load")
        record("load_model", ctx.name, ctx.version, start, time.monotonic())
        if failure:
            raise RuntimeError(failure)
        return TestModel(ctx)

    def finalize(self) -> None:
        record("backend_finalize")


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(TestBackend)
