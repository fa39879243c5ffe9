"""The HTTP/REST frontend: a listener on --http-address:--http-port."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar

from tritoncore.frontend import Frontend, cannot_listen
from tritoncore.frontends.http.app import HttpApp
from tritoncore.frontends.http.connection import HttpConnection
from tritoncore.frontends.http.worker_link import HttpWorkerLink
from tritoncore.frontends.restricted_api import parse_restrictions
from tritoncore.frontends.settings import settings_of
from tritoncore.frontends.workers import WorkerPool, listening_socket

if TYPE_CHECKING:
    from tritoncore.server import Server

log = logging.getLogger(__name__)


class HttpFrontend(Frontend):
    """KServe v2 over HTTP/1.1 with Triton's extensions."""

    name = "http"
    extensions: ClassVar[list[str]] = ["classification", "sequence", "schedule_policy", "system_shared_memory",
                  "cuda_shared_memory", "binary_tensor_data", "parameters", "trace", "logging"]

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.app: HttpApp | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._workers: WorkerPool | None = None

    def enabled(self) -> bool:
        return bool(self.server.options.allow_http)

    async def start(self) -> None:
        options = self.server.options
        restrictions = parse_restrictions(list(getattr(options, "http_restricted_api", [])))
        loop = asyncio.get_running_loop()
        app = HttpApp(self.server, loop, restrictions,
                      int(getattr(options, "http_max_input_size", 64 * 1024 * 1024)))
        settings_of(self.server).log.apply()
        workers = int(options.extra.get("http_workers") or 0)
        if workers:
            sock = listening_socket("HTTP", options.http_address, options.http_port,
                                    "--http-port")
            self._workers = WorkerPool(
                "HTTP", "tritoncore.frontends.http.worker", [str(app.max_input_size)], sock,
                workers, lambda proc, lost: HttpWorkerLink(app, proc, lost))
            await self._workers.start()
        else:
            try:
                self._listener = await loop.create_server(
                    lambda: HttpConnection(app), options.http_address, options.http_port,
                    reuse_address=True, backlog=2048)
            except OSError as exc:
                raise cannot_listen("HTTP", f"{options.http_address}:{options.http_port}",
                                    "--http-port", exc) from None
        self.app = app
        log.info("HTTP frontend listening on %s:%d", options.http_address, options.http_port)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._workers is not None:
            await self._workers.stop(float(self.server.options.exit_timeout_secs))
            self._workers = None
        if self.app is not None:
            for conn in list(self.app.connections):
                conn.close_when_idle()

