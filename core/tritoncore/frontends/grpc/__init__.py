"""The gRPC frontend: Triton's ``inference.GRPCInferenceService`` and ``grpc.health.v1``.

Served on the server's event loop (port 8001 by default) by one of two transports
(``--grpc-transport``): ``native`` (the default), tritoncore's own HTTP/2 (``http2``) and gRPC
call handling (``calls``), about a fifth of grpc.aio's CPU per call; or ``grpcio``, a
``grpc.aio`` server. Both run the same handlers. Modules: ``codec`` (messages <-> requests and
responses), ``service`` (the RPC handlers), ``restricted`` (``--grpc-restricted-protocol``).

grpc core reads ``GRPC_EXPERIMENTS`` once, when ``grpc`` is first imported; unless the user
set it, this module imports grpc with the ``event_engine_listener`` experiment off (and
removes the variable again, so that model processes do not inherit it). With it on,
accepted connections are served by EventEngine's own threads, which hand every event to the
aio poller thread that then wakes the event loop: one more thread hop per event. Without it,
the poller thread reads the sockets itself. add_sub over gRPC on the 2-CPU VM: context
switches per request about halved, server CPU per request 5-9% lower (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

if "grpc" not in sys.modules and "GRPC_EXPERIMENTS" not in os.environ:
    os.environ["GRPC_EXPERIMENTS"] = "-event_engine_listener"
    try:
        import grpc
    finally:
        del os.environ["GRPC_EXPERIMENTS"]
import grpc  # a no-op after the import above

from tritoncore.frontend import Frontend, cannot_listen
from tritoncore.frontends.grpc import calls, http2, restricted, service
from tritoncore.hookspecs import hookimpl

log = logging.getLogger(__name__)

#: Extensions the gRPC protocol adds to the server metadata (the HTTP frontend adds the same
#: names but binary_tensor_data, which is HTTP's).
EXTENSIONS = ("classification", "sequence", "schedule_policy", "system_shared_memory",
              "cuda_shared_memory", "parameters", "trace", "logging")
#: Unlimited message sizes, as Triton's; tensors can be large.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.so_reuseport", 0),  # a port in use must fail start-up, not be shared silently
]


class GrpcFrontend(Frontend):
    """Serves the gRPC protocol on ``grpc_address:grpc_port``."""

    name = "grpc"
    extensions = EXTENSIONS

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._grpc: grpc.aio.Server | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._connections: set[http2.Http2Connection] = set()
        self.port = 0

    def enabled(self) -> bool:
        return bool(self.server.options.allow_grpc)

    async def start(self) -> None:
        opts = self.server.options
        rules = restricted.parse(list(opts.extra.get("grpc_restricted_protocol") or []))
        if opts.extra.get("grpc_transport", "native") == "native":
            await self._start_native(rules)
            return
        self._grpc = grpc.aio.server(options=CHANNEL_OPTIONS)
        service.register(self._grpc, self.server, rules)
        address = f"{opts.grpc_address}:{opts.grpc_port}"
        try:
            self.port = self._grpc.add_insecure_port(address)
        except RuntimeError as exc:
            self.port = 0
            detail = str(exc)
        else:
            detail = "the port may be in use"
        if not self.port:
            raise cannot_listen("gRPC", address, "--grpc-port", detail)
        await self._grpc.start()
        log.info("gRPC frontend listening on %s:%d", opts.grpc_address, self.port)

    async def _start_native(self, rules: dict[str, restricted.Restriction]) -> None:
        opts = self.server.options
        loop = asyncio.get_running_loop()
        router = calls.Router(service.InferenceService(self.server), service.RPCS, rules)

        def connection() -> http2.Http2Connection:
            return http2.Http2Connection(router, self._connections)

        host = opts.grpc_address.strip("[]") or None
        try:
            self._listener = await loop.create_server(connection, host, opts.grpc_port,
                                                      reuse_address=True, backlog=2048)
        except OSError as exc:
            raise cannot_listen("gRPC", f"{opts.grpc_address}:{opts.grpc_port}", "--grpc-port",
                                exc) from None
        self.port = self._listener.sockets[0].getsockname()[1]
        log.info("gRPC frontend listening on %s:%d", opts.grpc_address, self.port)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            for conn in list(self._connections):
                conn.shutdown()
            deadline = asyncio.get_running_loop().time() + 1.0
            while self._connections and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            for conn in list(self._connections):
                if conn.transport is not None:
                    conn.transport.close()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
            self._grpc = None


@hookimpl
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    register(GrpcFrontend)


@hookimpl
def tritoncore_add_cli_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grpc-transport", dest="grpc_transport", choices=("native", "grpcio"),
        default="native",
        help="who speaks HTTP/2 for the gRPC frontend: tritoncore's own (native, the default, "
             "leaner) or a grpcio aio server (grpcio)")
    parser.add_argument(
        "--grpc-restricted-protocol", "--grpc-restricted-api", dest="grpc_restricted_protocol",
        action="append", default=[], metavar="GROUPS:KEY=VALUE",
        help="restrict API groups (health, metadata, inference, shared-memory, model-config, "
             "model-repository, statistics, trace, logging) to callers sending the metadata "
             "'triton-grpc-protocol-KEY: VALUE' (repeatable)")
