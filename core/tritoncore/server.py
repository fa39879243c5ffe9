"""Server: the in-process API that frontends call (and embedding applications too)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from tritoncore import __version__, dtypes, loop_poll
from tritoncore import config as cfgmod
from tritoncore.errors import ErrorCode, TritonError, invalid_arg, not_found
from tritoncore.frontend import Frontend
from tritoncore.memory import gpu, pinned_pool
from tritoncore.memory.cuda_shm import CudaSharedMemory
from tritoncore.memory.devices import gpu_count
from tritoncore.memory.system_shm import SystemSharedMemory
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.repository.manager import RepositoryManager
from tritoncore.repository.version import LoadedVersion
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse

log = logging.getLogger(__name__)

SERVER_NAME = "tritoncore"
#: Protocol extensions the core implements (frontends add their own).
EXTENSIONS = ["model_repository", "model_repository(unload_dependents)", "model_configuration",
              "statistics"]


class Server:
    """Owns the plugins, the repository manager and the frontends."""

    def __init__(self, options: ServerOptions, plugins: PluginManager | None = None,
                 gpus: int | None = None) -> None:
        self.options = options
        self.plugins = plugins or PluginManager()
        min_cc = float(options.extra.get("min_supported_compute_capability") or 0.0)
        self.gpu_count = gpu_count(min_cc) if gpus is None else gpus
        self.repository = RepositoryManager(options, self.plugins, self.gpu_count, self)
        self.system_shm = SystemSharedMemory(options.allow_client_shm)
        self.cuda_shm = CudaSharedMemory(options.allow_client_shm, self.gpu_count)
        self.pinned_pool = pinned_pool.configure(int(options.extra.get(
            "pinned_memory_pool_byte_size", pinned_pool.DEFAULT_BYTE_SIZE)))
        if self.gpu_count:
            gpu.limit_pools(list(options.extra.get("cuda_memory_pool_byte_size") or []))
        self.frontends: list[Frontend] = []
        self.live = False
        self.stopping = False

    # ---------------------------------------------------------------------------------------
    # lifecycle
    # ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load start-up models, then start the frontends.

        With ``exit_on_error`` a model that failed to load fails start-up (after unloading
        what did load); otherwise it stays UNAVAILABLE with its reason.
        """
        loop_poll.for_loop(asyncio.get_running_loop()).budget_ns = \
            self.options.busy_poll_microseconds * 1000
        failed = await self.repository.start()
        if failed and self.options.exit_on_error:
            reasons = "; ".join(self.repository.not_ready_reason(n, -1) for n in failed)
            await self.repository.stop()
            raise TritonError(ErrorCode.INTERNAL,
                              f"failed to load all models ({reasons}); start with "
                              "--exit-on-error=false to serve the others")
        try:
            for cls in self.plugins.frontends.values():
                frontend = cls(self)
                if frontend.enabled():
                    await frontend.start()
                    self.frontends.append(frontend)
        except BaseException:  # a frontend could not start: leave nothing running
            for frontend in self.frontends:
                await frontend.stop()
            await self.repository.stop()
            raise
        self.live = True
        self.plugins.hook.tritoncore_server_started(server=self)

    async def stop(self) -> None:
        """Stop accepting, let in-flight work finish (bounded by ``exit_timeout_secs``),
        unload every model."""
        if self.stopping:
            return
        self.stopping = True
        self.plugins.hook.tritoncore_server_stopping(server=self)
        for frontend in self.frontends:
            await frontend.stop()
        try:
            await asyncio.wait_for(self.repository.stop(), self.options.exit_timeout_secs)
        except asyncio.TimeoutError:
            log.warning("exit timeout (%.0fs) reached with models still unloading",
                        self.options.exit_timeout_secs)
        self.system_shm.unregister()
        self.cuda_shm.unregister()
        self.live = False

    # ---------------------------------------------------------------------------------------
    # health and metadata
    # ---------------------------------------------------------------------------------------

    def is_live(self) -> bool:
        return self.live

    def is_ready(self) -> bool:
        """Live, not stopping and, with strict readiness, every model asked for is READY."""
        if not self.live or self.stopping:
            return False
        if not self.options.strict_readiness:
            return True
        return all(self.repository.is_ready(name) for name, entry in
                   self.repository.models.items() if entry.status or entry.reason)

    def metadata(self) -> dict[str, Any]:
        extensions = list(EXTENSIONS)
        for frontend in self.frontends:
            extensions += [e for e in getattr(frontend, "extensions", ()) if e not in extensions]
        return {"name": SERVER_NAME, "version": __version__, "extensions": extensions}

    def model_ready(self, name: str, version: int = -1) -> bool:
        return self.repository.is_ready(name, version)

    def model(self, name: str, version: int = -1) -> LoadedVersion:
        """The version serving ``name``; NOT_FOUND / UNAVAILABLE errors say why not."""
        if not name:
            raise invalid_arg("a model name is required")
        return self.repository.get(name, version)

    def unary_model(self, name: str, version: int = -1) -> LoadedVersion:
        """The version serving a one-response infer; UNSUPPORTED when the model is decoupled."""
        loaded = self.model(name, version)
        if loaded.decoupled:
            raise TritonError(ErrorCode.UNSUPPORTED,
                              f"model '{name}' is decoupled: it may send any number of "
                              "responses, so use the streaming API (gRPC ModelStreamInfer)")
        return loaded

    def model_metadata(self, name: str, version: int = -1) -> dict[str, Any]:
        """Triton's model metadata: name, versions, platform, inputs and outputs."""
        loaded = self.model(name, version)
        config = loaded.config
        batch = [-1] if config.max_batch_size > 0 else []

        def tensors(specs: Any) -> list[dict[str, Any]]:
            return [{"name": s.name,
                     "datatype": dtypes.by_config_name(mc.DataType.Name(s.data_type)).name,
                     "shape": batch + list(s.dims)} for s in specs]

        entry = self.repository.models[name]
        return {"name": name, "versions": [str(v) for v in sorted(entry.loaded)],
                "platform": config.platform or config.backend,
                "inputs": tensors(config.input), "outputs": tensors(config.output)}

    def model_config(self, name: str, version: int = -1) -> dict[str, Any]:
        """The model's config as Triton's ``/config`` JSON."""
        return cfgmod.to_json_dict(self.model(name, version).config)

    # ---------------------------------------------------------------------------------------
    # repository
    # ---------------------------------------------------------------------------------------

    async def load_model(self, name: str, config_json: str | None = None,
                         files: dict[str, bytes] | None = None) -> None:
        await self.repository.load(name, config_json, files)

    async def unload_model(self, name: str, unload_dependents: bool = False) -> None:
        await self.repository.unload(name, unload_dependents)

    def repository_index(self, ready_only: bool = False) -> list[dict[str, str]]:
        return self.repository.index(ready_only)

    def statistics(self, name: str = "", version: int = -1) -> dict[str, Any]:
        """Triton's ``{"model_stats": [...]}`` for one model, one version, or all."""
        if name and name not in self.repository.models:
            raise not_found(f"unknown model '{name}'")
        rows = []
        for entry_name in [name] if name else sorted(self.repository.models):
            entry = self.repository.models[entry_name]
            for v, loaded in sorted(entry.loaded.items()):
                if version < 0 or v == version:
                    rows.append(loaded.stats.as_json(entry_name, v))
        if name and version >= 0 and not rows:
            raise not_found(f"model '{name}' has no loaded version {version}")
        return {"model_stats": rows}

    # ---------------------------------------------------------------------------------------
    # inference
    # ---------------------------------------------------------------------------------------

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        """One request, one response; an error response is raised as its TritonError."""
        loaded = self.unary_model(request.model_name, request.model_version)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[InferenceResponse] = loop.create_future()

        def settle(response: InferenceResponse) -> None:
            if not future.done():
                future.set_result(response)

        loop_thread = threading.get_ident()

        def deliver(response: InferenceResponse) -> None:  # any thread
            if threading.get_ident() == loop_thread:
                settle(response)
            else:
                loop.call_soon_threadsafe(settle, response)

        loaded.submit(request, deliver)
        try:
            response = await future
        except asyncio.CancelledError:
            request.cancelled.set()
            raise
        if response.error is not None:
            raise response.error
        return response

    async def infer_stream(self, request: InferenceRequest) -> AsyncIterator[InferenceResponse]:
        """Every response of a request (decoupled models send any number), final one last."""
        loaded = self.model(request.model_name, request.model_version)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[InferenceResponse] = asyncio.Queue()
        def deliver(response: InferenceResponse) -> None:  # any thread
            loop.call_soon_threadsafe(queue.put_nowait, response)

        loaded.submit(request, deliver)
        final = False
        try:
            while not final:
                response = await queue.get()
                final = response.final
                yield response
        finally:
            if not final:  # the consumer went away: the request is cancelled
                request.cancelled.set()
