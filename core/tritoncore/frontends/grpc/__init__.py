"""The gRPC frontend: Triton's ``inference.GRPCInferenceService`` and ``grpc.health.v1``.

A ``grpc.aio`` server on the server's event loop (port 8001 by default). Modules:
``codec`` (messages <-> requests and responses), ``service`` (the RPC handlers),
``restricted`` (``--grpc-restricted-protocol``).

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

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontend import Frontend
from tritoncore.frontends.grpc import restricted, service
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
        self.port = 0

    def enabled(self) -> bool:
        return bool(self.server.options.allow_grpc)

    async def start(self) -> None:
        opts = self.server.options
        rules = restricted.parse(list(opts.extra.get("grpc_restricted_protocol") or []))
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
            raise TritonError(ErrorCode.UNAVAILABLE,
                              f"gRPC frontend cannot listen on {address} ({detail}); choose "
                              "another --grpc-port or stop what uses it")
        await self._grpc.start()
        log.info("gRPC frontend listening on %s:%d", opts.grpc_address, self.port)

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
            self._grpc = None


@hookimpl
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    register(GrpcFrontend)


@hookimpl
def tritoncore_add_cli_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grpc-restricted-protocol", "--grpc-restricted-api", dest="grpc_restricted_protocol",
        action="append", default=[], metavar="GROUPS:KEY=VALUE",
        help="restrict API groups (health, metadata, inference, shared-memory, model-config, "
             "model-repository, statistics, trace, logging) to callers sending the metadata "
             "'triton-grpc-protocol-KEY: VALUE' (repeatable)")
