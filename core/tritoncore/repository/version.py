"""One loaded model version: the backend's Model, its instances, scheduler and statistics."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from tritoncore import asynccall
from tritoncore.backend import Backend, InstanceContext, Model, ModelContext
from tritoncore.config.defaults import is_ensemble
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.memory import destinations, placement
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.admission import Admission
from tritoncore.scheduling.batcher import QueueTimeout
from tritoncore.scheduling.dynamic import DynamicBatcher
from tritoncore.scheduling.ensemble import EnsembleScheduler
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse, ResponseSender
from tritoncore.scheduling.scheduler import FifoScheduler, Scheduler
from tritoncore.scheduling.sequence import SequenceBatcher
from tritoncore.scheduling.stats import ModelStats
from tritoncore.scheduling.warmup import warm_up
from tritoncore.tensor import MemoryKind, Tensor

log = logging.getLogger(__name__)


class State(enum.Enum):
    """Model version states, as Triton's repository index reports them."""

    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"


def instance_plan(config: Any) -> list[tuple[str, str, int]]:
    """(instance name, kind, device id) for every instance the config's groups ask for."""
    plan = []
    for group in config.instance_group:
        kind = mc.ModelInstanceGroup.Kind.Name(group.kind)
        devices = list(group.gpus) if kind == "KIND_GPU" else [0]
        index = 0
        for device in devices:
            for _ in range(group.count):
                plan.append((f"{group.name}_{index}", kind, device))
                index += 1
    return plan


class LoadedVersion:
    """A READY model version that accepts requests until it is unloaded."""

    def __init__(self, ctx: ModelContext, model: Model, runners: list[InstanceRunner],
                 stats: ModelStats) -> None:
        self.ctx = ctx
        self.model = model
        self.runners = runners
        self.stats = stats
        self.scheduler = scheduler_for(ctx, runners, stats)
        self.admission = Admission(ctx.config)
        self.decoupled = ctx.decoupled
        self.load_seconds = 0.0
        self._outputs = placement.Lane()  # responses, placed into shm destinations in order
        self._inputs = placement.Lane()  # requests whose GPU inputs go to the host first

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def version(self) -> int:
        return self.ctx.version

    @property
    def config(self) -> Any:
        return self.ctx.config

    @classmethod
    async def load(cls, backend: Backend, ctx: ModelContext, executor: Executor) -> LoadedVersion:
        """Load the model and create its instances; on failure nothing is left behind."""
        start = time.monotonic()
        model = await asynccall.call(backend.load_model, ctx, executor=executor)
        stats = ModelStats()
        runners: list[InstanceRunner] = []
        try:
            for name, kind, device in instance_plan(ctx.config):
                ictx = InstanceContext(name, kind, device, len(runners), ctx)
                instance = await asynccall.call(model.create_instance, ictx, executor=executor)
                runners.append(
                    InstanceRunner(ctx.name, name, instance, stats, ctx.config.max_batch_size,
                                   ctx.decoupled)
                )
            if ctx.config.model_warmup:
                await warm_up(ctx.config, ctx.model_dir, runners)
                stats = ModelStats()  # warmup is not traffic
                for runner in runners:
                    runner.stats = stats
        except BaseException:
            for runner in runners:
                await runner.finalize()
            await asynccall.call(model.finalize, executor=executor)
            raise
        loaded = cls(ctx, model, runners, stats)
        loaded.scheduler.start()
        loaded.load_seconds = time.monotonic() - start
        return loaded

    def submit(self, request: InferenceRequest,
               deliver: Callable[[InferenceResponse], None]) -> None:
        """Validate and queue ``request``; its responses go to ``deliver`` (any thread).

        Outputs bound for the client's shared memory are written there before a response is
        delivered, and CUDA-shm inputs of a host-only model are copied to the host before the
        request is queued; both off the event loop when large (``memory/placement.py``), in
        the order the requests and responses came.
        """
        try:
            self.admission.check(request)
        except TritonError as exc:
            if request.id:  # as Triton: which request of a stream was refused
                raise TritonError(exc.code, f"[request id: {request.id}] {exc.message}") from None
            raise
        request.model_version = self.version
        arrival = request.arrival_ns
        stats = self.stats
        wanted = set(request.requested_outputs or ())
        places = destinations.of(request)
        lane = self._outputs

        def counted(response: InferenceResponse) -> None:
            if wanted:
                response.outputs = [t for t in response.outputs if t.name in wanted]
            final = response.final
            elapsed = time.monotonic_ns() - arrival if final else 0
            try:
                if places:
                    lane.run(functools.partial(self._place_and_deliver, response, places,
                                               deliver),
                             placement.pending_bytes(response, places))
                elif lane.busy:  # behind responses still being placed
                    lane.defer(functools.partial(deliver, response))
                else:
                    deliver(response)
            finally:  # counted after the answer is on its way (one loop callback: a
                # statistics request that follows the answer still sees this one)
                if final:
                    stats.request_done(response.error is None, elapsed,
                                       _failure_reason(response.error))

        request.sender = ResponseSender(counted)
        if not self.model.accepts_gpu_inputs:
            nbytes = gpu_input_bytes(request)
            if nbytes or self._inputs.busy:
                loop = _running_loop()
                if loop is not None and self._inputs.defers(nbytes):
                    self._inputs.defer(functools.partial(self._stage_then_queue, request,
                                                         loop, deliver))
                    return
                if nbytes:
                    stage_gpu_inputs(request)
        try:
            self.scheduler.enqueue(request)
        except TritonError:  # refused (queue full, bad priority): a failed request too
            stats.request_done(False, time.monotonic_ns() - arrival, "REJECTED")
            raise

    def _place_and_deliver(self, response: InferenceResponse,
                           places: dict[str, destinations.ShmRef],
                           deliver: Callable[[InferenceResponse], None]) -> None:
        server = self.ctx.server
        placement.place(getattr(server, "system_shm", None), getattr(server, "cuda_shm", None),
                        response, places)
        deliver(response)

    def _stage_then_queue(self, request: InferenceRequest, loop: asyncio.AbstractEventLoop,
                          deliver: Callable[[InferenceResponse], None]) -> None:
        """On a copy thread: the GPU inputs to the host, then queue on the loop (a refusal
        goes to ``deliver``, counted as a rejected request)."""

        def refuse(error: TritonError) -> None:
            self.stats.request_done(False, time.monotonic_ns() - request.arrival_ns, "REJECTED")
            deliver(InferenceResponse(error=error, final=True))

        try:
            stage_gpu_inputs(request)
        except Exception as exc:  # noqa: BLE001 - becomes the request's error
            refuse(exc if isinstance(exc, TritonError) else TritonError(
                ErrorCode.INTERNAL, f"model '{self.name}': copying GPU inputs to the host "
                                    f"failed: {exc}"))
            return

        queued = threading.Event()

        def queue() -> None:
            try:
                self.scheduler.enqueue(request)
            except TritonError as error:
                refuse(error)
            finally:
                queued.set()

        # The lane stays busy until the request is in the queue, so later requests keep
        # their place behind it.
        try:
            loop.call_soon_threadsafe(queue)
        except RuntimeError:  # the loop is closed: the server is gone
            return
        while not queued.wait(1.0):
            if loop.is_closed():
                return

    async def unload(self, executor: Executor) -> None:
        """Finish queued and running requests, then finalize instances and the model."""
        await self.scheduler.stop()
        for runner in self.runners:
            try:
                await runner.finalize()
            except Exception:
                log.exception("model '%s': instance '%s' failed to finalize", self.name,
                              runner.name)
        try:
            await asynccall.call(self.model.finalize, executor=executor)
        except Exception:
            log.exception("model '%s' version %d failed to finalize", self.name, self.version)

    def ready(self) -> bool:
        return all(r.instance.ready() for r in self.runners)


def scheduler_for(ctx: ModelContext, runners: list[InstanceRunner],
                  stats: ModelStats) -> Scheduler:
    """The scheduler a config asks for: the ensemble scheduler for ensembles, the sequence
    batcher for ``sequence_batching``, the dynamic batcher when it has ``dynamic_batching``
    and batches at all, else one request at a time."""
    config = ctx.config
    if is_ensemble(config):
        return EnsembleScheduler(config, ctx.server, stats)
    if config.HasField("sequence_batching"):
        return SequenceBatcher(config.name, runners, config)
    if config.HasField("dynamic_batching") and config.max_batch_size > 0:
        return DynamicBatcher(config.name, runners, config)
    return FifoScheduler(config.name, runners)


def unavailable(name: str, version: int, reason: str) -> TritonError:
    return TritonError(ErrorCode.UNAVAILABLE,
                       f"model '{name}' version {version} is not ready: {reason}")


def _failure_reason(error: TritonError | None) -> str:
    """Triton's metric reason for a failed request: timed out in the queue, cancelled, or the
    backend's error (requests refused at the queue are counted where they are refused)."""
    if error is None:
        return ""
    if isinstance(error, QueueTimeout):
        return "REJECTED"
    return "CANCELED" if error.code is ErrorCode.CANCELLED else "BACKEND"


def gpu_input_bytes(request: InferenceRequest) -> int:
    """Bytes of ``request``'s inputs that sit in GPU memory."""
    return sum(t.byte_size for t in request.inputs.values() if t.memory is MemoryKind.GPU)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def stage_gpu_inputs(request: InferenceRequest) -> None:
    """GPU inputs (from CUDA shm) for a model that takes host memory only: one counted
    device-to-host copy each, before the request is queued."""
    for name, tensor in list(request.inputs.items()):
        if tensor.memory is MemoryKind.GPU:
            request.inputs[name] = Tensor(name, tensor.datatype, tensor.shape,
                                          tensor.to_host(), parameters=tensor.parameters)
