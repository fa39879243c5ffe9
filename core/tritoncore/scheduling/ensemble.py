"""Ensembles (``platform: "ensemble"``): steps that run other models as their inputs appear.

A built-in backend named ``ensemble`` makes the platform loadable; the work happens in
``EnsembleScheduler``, which runs each request's step graph as its own task, so requests never
wait for each other. Tensors pass between steps as the same objects (renamed, never copied).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tritoncore.backend import Backend, InstanceContext, Model, ModelContext, ModelInstance
from tritoncore.errors import ErrorCode, TritonError, invalid_arg
from tritoncore.hookspecs import hookimpl
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.scheduling.scheduler import Scheduler
from tritoncore.scheduling.stats import ModelStats
from tritoncore.tensor import Tensor


def check_graph(config: Any) -> None:
    """Every step input is an ensemble input or an earlier step's output, every ensemble
    output is produced, and no tensor is produced twice."""
    name = config.name
    available = {i.name for i in config.input}
    produced: dict[str, str] = {}
    steps = list(config.ensemble_scheduling.step)
    for _ in range(len(steps)):
        progress = False
        for step in list(steps):
            if all(t in available for t in step.input_map.values()):
                for tensor in step.output_map.values():
                    if tensor in produced or tensor in {i.name for i in config.input}:
                        raise invalid_arg(f"ensemble '{name}': tensor '{tensor}' is produced "
                                          f"twice (by '{step.model_name}')")
                    produced[tensor] = step.model_name
                    available.add(tensor)
                steps.remove(step)
                progress = True
        if not progress:
            break
    if steps:
        missing = sorted({t for s in steps for t in s.input_map.values() if t not in available})
        raise invalid_arg(f"ensemble '{name}': step '{steps[0].model_name}' needs "
                          f"{', '.join(missing)}, which no input or earlier step provides")
    for output in config.output:
        if output.name not in available:
            raise invalid_arg(f"ensemble '{name}': no step produces output '{output.name}'")


def renamed(tensor: Tensor, name: str) -> Tensor:
    """The same data under another name (no copy)."""
    return tensor if tensor.name == name else tensor.replaced(name=name)


class EnsembleModel(Model):
    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        raise TritonError(ErrorCode.INVALID_ARG, "an ensemble has no instances")


class EnsembleBackend(Backend):
    """Makes ``platform: "ensemble"`` loadable; loads missing step models in explicit mode."""

    name = "ensemble"

    async def load_model(self, ctx: ModelContext) -> Model:  # type: ignore[override]
        check_graph(ctx.config)
        server = ctx.server
        for step in ctx.config.ensemble_scheduling.step:
            if step.model_name == ctx.name:
                raise invalid_arg(f"ensemble '{ctx.name}' cannot be one of its own steps")
            version = step.model_version if step.model_version > 0 else -1
            if server is None or server.model_ready(step.model_name, version):
                continue
            if server.options.model_control_mode == "explicit":
                await server.repository.load(step.model_name, _forced=True)
            if not server.model_ready(step.model_name, version):
                raise TritonError(ErrorCode.UNAVAILABLE,
                                  f"ensemble '{ctx.name}': step model '{step.model_name}' is not "
                                  f"ready: {server.repository.not_ready_reason(step.model_name, version)}")
        return EnsembleModel()


class EnsembleScheduler(Scheduler):
    """Runs each request's steps as soon as their inputs exist."""

    def __init__(self, config: Any, server: Any, stats: ModelStats) -> None:
        super().__init__(config.name, [])
        self.config = config
        self.server = server
        self.stats = stats
        self.steps = list(config.ensemble_scheduling.step)
        self.decoupled = bool(config.model_transaction_policy.decoupled)
        self.tasks: set[asyncio.Task[None]] = set()

    def _admit(self, request: InferenceRequest) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, request: InferenceRequest) -> None:
        assert request.sender is not None
        begin = time.monotonic_ns()
        try:
            tensors = await self._run_steps(request)
            # one execution per ensemble request, as Triton counts them (perf_analyzer needs
            # the counts to grow); its compute time is the time its steps took
            self.stats.batch_done(request.batch_size(self.config.max_batch_size), 1,
                                  begin - request.arrival_ns, time.monotonic_ns() - begin)
            wanted = request.requested_outputs or [o.name for o in self.config.output]
            outputs = [tensors[name] for name in wanted if name in tensors]
            if outputs or not self.decoupled:
                request.sender.send(InferenceResponse(outputs=outputs), final=True)
            else:  # a decoupled ensemble streamed its outputs already
                request.sender.send(None, final=True)
        except TritonError as exc:
            request.sender.fail(exc)
        except Exception as exc:  # noqa: BLE001 - never leave a request without an answer
            request.sender.fail(TritonError(ErrorCode.INTERNAL,
                                            f"ensemble '{self.model_name}': {exc!r}"))
        finally:
            self.finished(1)

    async def _run_steps(self, request: InferenceRequest) -> dict[str, Tensor]:
        tensors: dict[str, Tensor] = dict(request.inputs)
        waiting = list(self.steps)
        running: dict[asyncio.Task[list[Tensor]], Any] = {}
        try:
            while waiting or running:
                for step in [s for s in waiting if all(t in tensors for t in s.input_map.values())]:
                    waiting.remove(step)
                    task = asyncio.get_running_loop().create_task(self._step(request, step, tensors))
                    running[task] = step
                if not running:
                    raise TritonError(ErrorCode.INTERNAL, f"ensemble '{self.model_name}' cannot "
                                      "run its remaining steps: their inputs never appeared")
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    step = running.pop(task)
                    for output in task.result():
                        target = step.output_map.get(output.name)
                        if target is not None:
                            tensors[target] = renamed(output, target)
        finally:
            for task in running:
                task.cancel()
        return tensors

    async def _step(self, request: InferenceRequest, step: Any,
                    tensors: dict[str, Tensor]) -> list[Tensor]:
        inputs = {model_input: renamed(tensors[name], model_input)
                  for model_input, name in step.input_map.items()}
        version = step.model_version if step.model_version > 0 else -1
        sub = InferenceRequest(step.model_name, inputs, model_version=version, id=request.id,
                               requested_outputs=list(step.output_map),
                               parameters=request.parameters, priority=request.priority,
                               timeout_us=request.timeout_us)
        try:
            target = self.server.model(step.model_name, version).ctx
            if target.config.HasField("sequence_batching"):  # sequences reach sequence models
                sub.correlation_id, sub.flags = request.correlation_id, request.flags
            if target.decoupled:
                return await self._stream_step(request, sub)
            return (await self.server.infer(sub)).outputs
        except TritonError as exc:
            raise TritonError(exc.code, f"in ensemble '{self.model_name}', step "
                                        f"'{step.model_name}': {exc.message}") from None

    async def _stream_step(self, request: InferenceRequest, sub: InferenceRequest) -> list[Tensor]:
        """A decoupled step: its responses go straight out when they are ensemble outputs."""
        if not self.decoupled:
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"step model '{sub.model_name}' is decoupled; the ensemble must set "
                              "model_transaction_policy { decoupled: true } to stream it")
        step = next(s for s in self.steps if s.model_name == sub.model_name)
        finals = {o.name for o in self.config.output}
        assert request.sender is not None
        async for response in self.server.infer_stream(sub):
            if response.error is not None:
                raise response.error
            outputs = [renamed(t, step.output_map[t.name]) for t in response.outputs
                       if step.output_map.get(t.name) in finals]
            if outputs:
                request.sender.send(InferenceResponse(outputs=outputs))
        return []


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(EnsembleBackend)
