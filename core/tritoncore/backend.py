"""What a backend implements: Backend -> Model -> ModelInstance, as Triton's backend API.

Lifecycle (Triton's names in brackets):

* ``Backend.initialize(backend_config)`` once, before its first model loads
  [TRITONBACKEND_Initialize]; ``Backend.finalize()`` when no loaded model uses it any more.
* ``Backend.auto_complete_config(ctx)`` may fill a model's inputs, outputs, batching.
* ``Backend.load_model(ctx) -> Model`` once per model version [ModelInitialize].
* ``Model.create_instance(ctx) -> ModelInstance`` once per instance [ModelInstanceInitialize].
* ``ModelInstance.execute(requests)`` [ModelInstanceExecute]: returns one response per request,
  in order, or ``None`` for decoupled models, which send through ``request.send(...)``.
* ``ModelInstance.finalize()`` then ``Model.finalize()`` on unload.

Any of these methods may be ``async def``; plain ones that block (framework loads, compute)
run in a worker thread so the event loop never waits. The core guarantees: calls for one
instance are never concurrent; different instances run in parallel; every request gets exactly
one final response whatever ``execute`` does (raises, returns too few responses).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tritoncore.scheduling.request import InferenceRequest, InferenceResponse


@dataclass
class ModelContext:
    """Everything a backend needs to load one version of one model."""

    name: str
    version: int
    config: Any  # tritoncore.protocol.model_config_pb2.ModelConfig
    model_dir: Path  # <repository>/<name>
    backend_config: Mapping[str, str] = field(default_factory=dict)
    #: The server's in-process API (``tritoncore.server.Server``): ``infer``,
    #: ``infer_stream``, ``load_model``, ``unload_model``, ``model_ready`` — for backends
    #: whose models call other models (BLS). None when the model runs outside a server.
    server: Any = None

    @property
    def version_dir(self) -> Path:
        return self.model_dir / str(self.version)

    @property
    def model_file(self) -> Path:
        """``<version>/<default_model_filename>`` (the backend's default when unset)."""
        return self.version_dir / self.config.default_model_filename

    @functools.cached_property
    def decoupled(self) -> bool:
        return bool(self.config.model_transaction_policy.decoupled)


@dataclass
class InstanceContext:
    """One instance of a model: its name, kind (``KIND_CPU``/``KIND_GPU``/``KIND_MODEL``)
    and device."""

    name: str
    kind: str
    device_id: int
    index: int
    model: ModelContext
    _stream: Any = field(default=None, repr=False)

    def cuda_stream(self) -> Any:
        """The instance's own CUDA stream, made on first call: a ``torch.cuda.Stream`` when
        torch with CUDA is installed, else a non-blocking ``cupy.cuda.Stream``; None for
        non-GPU instances or without either. A backend orders a batch's copies and compute on
        it. It lives as long as the instance."""
        if self.kind != "KIND_GPU":
            return None
        if self._stream is None:
            from tritoncore.memory import gpu

            self._stream = gpu.new_stream(self.device_id)
        return self._stream


@dataclass
class AutoCompleteContext:
    """What ``auto_complete_config`` sees: the model directory and the config so far."""

    name: str
    model_dir: Path
    config: Any  # ModelConfig, to be completed in place
    backend_config: Mapping[str, str] = field(default_factory=dict)
    default_max_batch_size: int = 4


#: How a batch begun with ``ModelInstance.submit`` ends: ``done(responses, None)`` (responses
#: as ``execute`` returns them) or ``done(None, error)``; called once, on the event loop.
BatchDone = Callable[[list[InferenceResponse] | None, BaseException | None], None]


class ModelInstance(abc.ABC):
    """One execution context of a model; never called concurrently.

    An instance whose work happens elsewhere (another process) may also define
    ``submit(requests, done: BatchDone) -> None``: begin the batch and return at once. The core
    then calls ``submit`` instead of ``execute``, without a task or thread per batch.
    """

    submit: Callable[[list[InferenceRequest], BatchDone], None] | None = None
    #: How many batches the core may hand over before the previous one finished. An instance
    #: that queues work in another process (a Python stub) uses more than 1 to hide the round
    #: trip; it still runs its batches one at a time, in order. The dynamic batcher uses at
    #: most 2 (deeper would split batches), sequence batching always 1.
    pipeline_depth: int = 1

    @abc.abstractmethod
    def execute(self, requests: list[InferenceRequest],
                ) -> list[InferenceResponse] | None | Awaitable[list[InferenceResponse] | None]:
        """Run a batch of requests; one response per request, or None if decoupled."""

    def ready(self) -> bool:
        """False when the instance can no longer serve (Triton's is_ready)."""
        return True

    def expect(self, at_ns: int) -> None:
        """A batch will probably reach this instance at ``at_ns`` (``time.monotonic_ns``):
        the dynamic batcher is holding requests for it until then. An instance that sleeps
        between batches (a stub process) may wake now, off the request's critical path.
        Called on the event loop; must return at once. Default: nothing."""

    def finalize(self) -> None | Awaitable[None]:
        """Free what the instance holds."""


class Model(abc.ABC):
    """A loaded model version; makes instances."""

    #: True when ``execute`` takes inputs in GPU memory (``Tensor.memory`` GPU, DLPack data,
    #: e.g. from CUDA shared memory). Otherwise the core copies such inputs to the host
    #: first (one counted device-to-host copy each).
    accepts_gpu_inputs: bool = False

    @abc.abstractmethod
    def create_instance(self, ctx: InstanceContext) -> ModelInstance | Awaitable[ModelInstance]:
        """Build one instance (``ctx.kind``/``ctx.device_id`` say where it runs)."""

    def finalize(self) -> None | Awaitable[None]:
        """Free what the model holds, after all of its instances were finalized."""


class Backend(abc.ABC):
    """A framework integration. Subclasses set ``name`` to the name models use."""

    name: ClassVar[str]
    #: Instance kinds the backend can run; the first is the default for KIND_AUTO / no group.
    instance_kinds: ClassVar[tuple[str, ...]] = ("KIND_CPU",)
    #: The file a version directory holds when ``default_model_filename`` is unset.
    default_model_filename: ClassVar[str] = ""

    def initialize(self, backend_config: Mapping[str, str]) -> None | Awaitable[None]:
        """Once, before the first model of this backend loads."""

    def auto_complete_config(self, ctx: AutoCompleteContext) -> None | Awaitable[None]:
        """Complete ``ctx.config`` in place from the model's files (optional)."""

    @abc.abstractmethod
    def load_model(self, ctx: ModelContext) -> Model | Awaitable[Model]:
        """Load one version of a model."""

    def finalize(self) -> None | Awaitable[None]:
        """When the last model using the backend has unloaded."""
