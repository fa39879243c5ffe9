"""The RPCs of ``inference.GRPCInferenceService`` and ``grpc.health.v1.Health``.

Every handler turns a request message into ``Server`` calls; a TritonError becomes the gRPC
status of the one code table (``errors.STATUS_TABLE``). Handlers are registered as generic
method handlers with protobuf's upb parser and serializer, and no servicer class in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format

from tritoncore.errors import ErrorCode, TritonError, invalid_arg
from tritoncore.frontends.grpc import codec, restricted
from tritoncore.frontends.settings import check_model, settings_of
from tritoncore.protocol import grpc_service_pb2 as pb
from tritoncore.protocol import health_pb2
from tritoncore.server import Server

log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
HEALTH_SERVICE = "grpc.health.v1.Health"
_STATUS = {code: getattr(grpc.StatusCode, name) for code, name in
           ((c, TritonError(c, "").grpc_status) for c in ErrorCode)}
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


async def _abort(context: grpc.aio.ServicerContext, error: TritonError) -> None:
    await context.abort(_STATUS[error.code], error.message)


def unexpected(exc: Exception) -> TritonError:
    log.exception("gRPC handler failed")
    return TritonError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")


class InferenceService:
    """Handlers for every RPC, bound to one ``Server``."""

    def __init__(self, server: Server) -> None:
        self.server = server

    # --- health and metadata -------------------------------------------------------------

    async def ServerLive(self, msg: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=self.server.is_live())

    async def ServerReady(self, msg: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.server.is_ready())

    async def ModelReady(self, msg: Any, context: Any) -> Any:
        if not msg.name:
            raise invalid_arg("a model name is required")
        ready = self.server.model_ready(msg.name, codec.parse_version(msg.version))
        return pb.ModelReadyResponse(ready=ready)

    async def ServerMetadata(self, msg: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(**self.server.metadata())

    async def ModelMetadata(self, msg: Any, context: Any) -> Any:
        meta = self.server.model_metadata(msg.name, codec.parse_version(msg.version))
        return json_format.ParseDict(meta, pb.ModelMetadataResponse())

    async def ModelConfig(self, msg: Any, context: Any) -> Any:
        loaded = self.server.model(msg.name, codec.parse_version(msg.version))
        return pb.ModelConfigResponse(config=loaded.config)

    async def ModelStatistics(self, msg: Any, context: Any) -> Any:
        stats = self.server.statistics(msg.name, codec.parse_version(msg.version))
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

    # --- inference -----------------------------------------------------------------------

    async def ModelInfer(self, msg: Any, context: Any) -> Any:
        decoded = codec.decode_request(self.server, msg)
        response = await self.server.infer(decoded.request)
        return codec.encode_response(self.server, decoded, response,
                                     decoded.request.model_version)

    async def ModelStreamInfer(self, requests: AsyncIterator[Any],
                               context: grpc.aio.ServicerContext) -> None:
        """Requests run concurrently; each request's responses are written in order.

        A failed request answers with ``error_message``; the stream stays open.
        """
        out: asyncio.Queue[Any] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def one(msg: Any) -> None:
            decoded = None
            try:
                decoded = codec.decode_request(self.server, msg)
                loaded = self.server.model(msg.model_name, decoded.request.model_version)
                decoupled = loaded.ctx.decoupled
                async for response in self.server.infer_stream(decoded.request):
                    if response.error is not None:
                        out.put_nowait(codec.stream_error(decoded, msg, response.error))
                        continue
                    if (response.final and decoupled and not response.outputs
                            and not decoded.empty_final):
                        continue  # a bare "done" flag the client did not ask to see
                    encoded = codec.encode_response(self.server, decoded, response,
                                                    loaded.version, final=response.final)
                    out.put_nowait(pb.ModelStreamInferResponse(infer_response=encoded))
            except TritonError as exc:
                out.put_nowait(codec.stream_error(decoded, msg, exc))
            except Exception as exc:  # noqa: BLE001 - one request must not end the stream
                out.put_nowait(codec.stream_error(decoded, msg, unexpected(exc)))

        async def read() -> None:
            try:
                async for msg in requests:
                    task = asyncio.ensure_future(one(msg))
                    running.add(task)
                    task.add_done_callback(running.discard)
                while running:
                    await asyncio.wait(list(running))
            finally:
                out.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (item := await out.get()) is not None:
                await context.write(item)
            await reader  # surfaces a failed read
        finally:
            reader.cancel()
            for task in list(running):
                task.cancel()

    # --- model repository ----------------------------------------------------------------

    async def RepositoryIndex(self, msg: Any, context: Any) -> Any:
        rows = self.server.repository_index(msg.ready)
        return json_format.ParseDict({"models": rows}, pb.RepositoryIndexResponse())

    async def RepositoryModelLoad(self, msg: Any, context: Any) -> Any:
        config: str | None = None
        files: dict[str, bytes] = {}
        for key, param in msg.parameters.items():
            value = codec.param_value(param)
            if key == "config":
                if not isinstance(value, str):
                    raise invalid_arg("load parameter 'config' must be a JSON string")
                config = value
            elif key.startswith("file:"):
                if not isinstance(value, bytes):
                    raise invalid_arg(f"load parameter '{key}' must be bytes_param")
                files[key[len("file:"):]] = value
        if files and config is None:
            raise invalid_arg("load parameters 'file:...' need the 'config' parameter too")
        await self.server.load_model(msg.model_name, config, files or None)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, msg: Any, context: Any) -> Any:
        dependents = msg.parameters.get("unload_dependents")
        flag = codec.param_value(dependents) if dependents is not None else False
        await self.server.unload_model(msg.model_name, bool(flag))
        return pb.RepositoryModelUnloadResponse()

    # --- shared memory -------------------------------------------------------------------

    async def SystemSharedMemoryStatus(self, msg: Any, context: Any) -> Any:
        out = pb.SystemSharedMemoryStatusResponse()
        for row in self.server.system_shm.status(msg.name or None):
            out.regions[row["name"]].CopyFrom(
                pb.SystemSharedMemoryStatusResponse.RegionStatus(**row))
        return out

    async def SystemSharedMemoryRegister(self, msg: Any, context: Any) -> Any:
        self.server.system_shm.register(msg.name, msg.key, msg.offset, msg.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    async def SystemSharedMemoryUnregister(self, msg: Any, context: Any) -> Any:
        self.server.system_shm.unregister(msg.name or None)
        return pb.SystemSharedMemoryUnregisterResponse()

    async def CudaSharedMemoryStatus(self, msg: Any, context: Any) -> Any:
        out = pb.CudaSharedMemoryStatusResponse()
        for row in self.server.cuda_shm.status(msg.name or None):
            out.regions[row["name"]].CopyFrom(
                pb.CudaSharedMemoryStatusResponse.RegionStatus(**row))
        return out

    async def CudaSharedMemoryRegister(self, msg: Any, context: Any) -> Any:
        self.server.cuda_shm.register(msg.name, msg.raw_handle, msg.device_id, msg.byte_size)
        return pb.CudaSharedMemoryRegisterResponse()

    async def CudaSharedMemoryUnregister(self, msg: Any, context: Any) -> Any:
        self.server.cuda_shm.unregister(msg.name or None)
        return pb.CudaSharedMemoryUnregisterResponse()

    # --- trace and log settings ----------------------------------------------------------

    async def TraceSetting(self, msg: Any, context: Any) -> Any:
        """gRPC carries every value as a list of strings; an empty list clears a setting."""
        model = msg.model_name
        check_model(self.server, model)
        trace = settings_of(self.server).trace
        if msg.settings:
            changes = {k: (list(v.value) if k == "trace_level" else v.value[0])
                       if v.value else None for k, v in msg.settings.items()}
            current = trace.update(changes, model)
        else:
            current = trace.get(model)
        out = pb.TraceSettingResponse()
        for key, value in current.items():
            out.settings[key].value.extend(value if isinstance(value, list) else [str(value)])
        return out

    async def LogSettings(self, msg: Any, context: Any) -> Any:
        settings = settings_of(self.server).log
        if msg.settings:
            current = settings.update({k: codec.param_value(v) for k, v in msg.settings.items()})
        else:
            current = settings.as_json()
        out = pb.LogSettingsResponse()
        for key, value in current.items():
            entry = out.settings[key]
            if isinstance(value, bool):
                entry.bool_param = value
            elif isinstance(value, int):
                entry.uint32_param = value
            else:
                entry.string_param = value
        return out

    # --- grpc.health.v1.Health -----------------------------------------------------------

    async def Check(self, msg: Any, context: Any) -> Any:
        """SERVING while the server is ready, whatever service is named (as Triton does)."""
        status = _SERVING if self.server.is_ready() else _NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, msg: Any, context: grpc.aio.ServicerContext) -> None:
        """The status now, then each change (polled every 0.5 s) until the client leaves."""
        last = None
        while True:
            status = _SERVING if self.server.is_ready() else _NOT_SERVING
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            await asyncio.sleep(0.5)


# rpc -> (request message, response message, kind)
_INFERENCE_RPCS: dict[str, tuple[Any, Any, str]] = {
    "ServerLive": (pb.ServerLiveRequest, pb.ServerLiveResponse, "unary"),
    "ServerReady": (pb.ServerReadyRequest, pb.ServerReadyResponse, "unary"),
    "ModelReady": (pb.ModelReadyRequest, pb.ModelReadyResponse, "unary"),
    "ServerMetadata": (pb.ServerMetadataRequest, pb.ServerMetadataResponse, "unary"),
    "ModelMetadata": (pb.ModelMetadataRequest, pb.ModelMetadataResponse, "unary"),
    "ModelInfer": (pb.ModelInferRequest, pb.ModelInferResponse, "unary"),
    "ModelStreamInfer": (pb.ModelInferRequest, pb.ModelStreamInferResponse, "stream"),
    "ModelConfig": (pb.ModelConfigRequest, pb.ModelConfigResponse, "unary"),
    "ModelStatistics": (pb.ModelStatisticsRequest, pb.ModelStatisticsResponse, "unary"),
    "RepositoryIndex": (pb.RepositoryIndexRequest, pb.RepositoryIndexResponse, "unary"),
    "RepositoryModelLoad": (pb.RepositoryModelLoadRequest, pb.RepositoryModelLoadResponse,
                            "unary"),
    "RepositoryModelUnload": (pb.RepositoryModelUnloadRequest,
                              pb.RepositoryModelUnloadResponse, "unary"),
    "SystemSharedMemoryStatus": (pb.SystemSharedMemoryStatusRequest,
                                 pb.SystemSharedMemoryStatusResponse, "unary"),
    "SystemSharedMemoryRegister": (pb.SystemSharedMemoryRegisterRequest,
                                   pb.SystemSharedMemoryRegisterResponse, "unary"),
    "SystemSharedMemoryUnregister": (pb.SystemSharedMemoryUnregisterRequest,
                                     pb.SystemSharedMemoryUnregisterResponse, "unary"),
    "CudaSharedMemoryStatus": (pb.CudaSharedMemoryStatusRequest,
                               pb.CudaSharedMemoryStatusResponse, "unary"),
    "CudaSharedMemoryRegister": (pb.CudaSharedMemoryRegisterRequest,
                                 pb.CudaSharedMemoryRegisterResponse, "unary"),
    "CudaSharedMemoryUnregister": (pb.CudaSharedMemoryUnregisterRequest,
                                   pb.CudaSharedMemoryUnregisterResponse, "unary"),
    "TraceSetting": (pb.TraceSettingRequest, pb.TraceSettingResponse, "unary"),
    "LogSettings": (pb.LogSettingsRequest, pb.LogSettingsResponse, "unary"),
}
_HEALTH_RPCS: dict[str, tuple[Any, Any, str]] = {
    "Check": (health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse, "unary"),
    "Watch": (health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse, "server-stream"),
}
#: service -> its RPCs
RPCS = {SERVICE: _INFERENCE_RPCS, HEALTH_SERVICE: _HEALTH_RPCS}


def _guard_unary(fn: Handler, rule: restricted.Restriction | None) -> Handler:
    """``fn`` with TritonErrors (and bugs) turned into gRPC statuses, and the restriction."""
    if rule is None:
        async def call(msg: Any, context: Any) -> Any:
            try:
                return await fn(msg, context)
            except TritonError as exc:
                await _abort(context, exc)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as exc:  # noqa: BLE001
                await _abort(context, unexpected(exc))
        return call

    async def restricted_call(msg: Any, context: Any) -> Any:
        if not restricted.allowed(rule, context.invocation_metadata()):
            await context.abort(grpc.StatusCode.UNAVAILABLE, rule.message())
        return await call_unrestricted(msg, context)

    call_unrestricted = _guard_unary(fn, None)
    return restricted_call


def _handlers(service: InferenceService, rpcs: dict[str, tuple[Any, Any, str]],
              rules: dict[str, restricted.Restriction]) -> dict[str, grpc.RpcMethodHandler]:
    handlers = {}
    for name, (req, resp, kind) in rpcs.items():
        fn = _guard_unary(getattr(service, name), rules.get(name))
        if kind == "unary":
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString,
                response_serializer=resp.SerializeToString)
        elif kind == "stream":
            handlers[name] = grpc.stream_stream_rpc_method_handler(
                fn, request_deserializer=req.FromString,
                response_serializer=resp.SerializeToString)
        else:
            handlers[name] = grpc.unary_stream_rpc_method_handler(
                fn, request_deserializer=req.FromString,
                response_serializer=resp.SerializeToString)
    return handlers


def register(grpc_server: grpc.aio.Server, server: Server,
             rules: dict[str, restricted.Restriction]) -> None:
    """Add both services' handlers to ``grpc_server``."""
    service = InferenceService(server)
    for name, rpcs in RPCS.items():
        handlers = _handlers(service, rpcs, rules)
        adder = getattr(grpc_server, "add_registered_method_handlers", None)
        if adder is not None:  # grpcio >= 1.62: no per-call generic lookup
            adder(name, handlers)
        else:
            grpc_server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(name, handlers),))


__all__ = ["RPCS", "InferenceService", "register", "unexpected"]
