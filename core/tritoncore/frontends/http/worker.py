"""An HTTP worker process (``--http-workers``): parses HTTP/1.1 and relays each whole request
to the server process, which answers it; answers are written in each connection's request
order. Started as ``python -m tritoncore.frontends.http.worker LISTEN_FD LINK_FD MAX_INPUT_SIZE``
by :class:`tritoncore.frontends.workers.WorkerPool`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from tritoncore.frontends.http.connection import Exchange, HttpConnection
from tritoncore.frontends.link import ANSWER, CANCEL, REQUEST
from tritoncore.frontends.relay import WorkerRelay, run_worker


class HttpRelay(WorkerRelay):
    """Relays requests; also the dispatcher of every connection the worker accepts."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_input_size: int) -> None:
        super().__init__(loop)
        self.max_input_size = max_input_size
        self.connections: set[HttpConnection] = set()
        self._pending: dict[int, Exchange] = {}
        self._next_id = 0

    def client(self) -> asyncio.Protocol:
        return HttpConnection(self)

    # -- Dispatcher (what connections call) --------------------------------------------------

    def dispatch(self, ex: Exchange) -> None:
        self._next_id += 1
        self._pending[self._next_id] = ex
        self.send((REQUEST, self._next_id, ex.method, ex.url, ex.headers, ex.body,
                   ex.keep_alive))

    def abandon(self, ex: Exchange) -> None:
        for rid, pending in self._pending.items():
            if pending is ex:
                del self._pending[rid]
                self.send((CANCEL, rid))
                return

    # -- WorkerRelay ---------------------------------------------------------------------------

    def received(self, message: tuple[Any, ...]) -> None:
        if message[0] == ANSWER:
            ex = self._pending.pop(message[1], None)
            if ex is not None:
                ex.keep_alive = ex.keep_alive and message[3]
                ex.send([message[2]])

    def clients(self) -> int:
        return len(self.connections)

    def close_clients(self, now: bool) -> None:
        if now:
            self._pending.clear()
        for conn in list(self.connections):
            if not now:
                conn.close_when_idle()
            elif conn.transport is not None:
                conn.transport.close()  # writes what is buffered, then closes


if __name__ == "__main__":
    listen_fd, link_fd, max_size = (int(a) for a in sys.argv[1:4])
    sys.exit(run_worker(lambda loop: HttpRelay(loop, max_size), listen_fd, link_fd))
