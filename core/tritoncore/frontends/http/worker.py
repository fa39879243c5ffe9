"""An HTTP worker process (``--http-workers``): it accepts connections on the frontend's
listening socket, parses HTTP/1.1 and relays each whole request to the server process, which
answers it; the worker writes the answers back in each connection's request order.

Started by :mod:`tritoncore.frontends.http.workers` as
``python -m tritoncore.frontends.http.worker LISTEN_FD LINK_FD MAX_INPUT_SIZE``.
It exits when the server process closes the link, or after ``STOP`` once its clients are gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

from tritoncore.frontends.http.connection import Exchange, HttpConnection
from tritoncore.frontends.http.link import ANSWER, CANCEL, HELLO, REQUEST, STOP, FrameReader, frame

log = logging.getLogger("tritoncore.http.worker")
_IDLE_CHECK_S = 0.02  # after STOP: how often to look whether every client has left


class Relay(asyncio.Protocol):
    """The worker's end of the link, and the dispatcher of every connection it accepts."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_input_size: int) -> None:
        self.loop = loop
        self.max_input_size = max_input_size
        self.connections: set[HttpConnection] = set()
        self.listener: asyncio.AbstractServer | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        self._pending: dict[int, Exchange] = {}
        self._next_id = 0
        self._reader = FrameReader()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None

    # -- Dispatcher (what connections call) --------------------------------------------------

    def dispatch(self, ex: Exchange) -> None:
        self._next_id += 1
        self._pending[self._next_id] = ex
        self._send((REQUEST, self._next_id, ex.method, ex.url, ex.headers, ex.body,
                    ex.keep_alive))

    def abandon(self, ex: Exchange) -> None:
        for rid, pending in self._pending.items():
            if pending is ex:
                del self._pending[rid]
                self._send((CANCEL, rid))
                return

    # -- the link ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._send((HELLO, os.getpid()))

    def data_received(self, data: bytes) -> None:
        for message in self._reader.feed(data):
            if message[0] == ANSWER:
                ex = self._pending.pop(message[1], None)
                if ex is not None:
                    ex.keep_alive = ex.keep_alive and message[3]
                    ex.send([message[2]])
            elif message[0] == STOP:
                self._stop_accepting()

    def connection_lost(self, exc: Exception | None) -> None:
        """The server process is gone: nothing pending can be answered any more."""
        self._transport = None
        self._pending.clear()
        self._stop_accepting()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()  # writes what is buffered, then closes
        self._finish_when_idle()

    def _send(self, message: tuple[object, ...]) -> None:
        if not self._out:
            self.loop.call_soon(self._write)
        self._out.append(frame(message))

    def _write(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None:
            self._transport.writelines(out)

    # -- stopping ----------------------------------------------------------------------------

    def _stop_accepting(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            for conn in list(self.connections):
                conn.close_when_idle()
            self._finish_when_idle()

    def _finish_when_idle(self) -> None:
        if self.done.done():
            return
        if self.connections:
            self.loop.call_later(_IDLE_CHECK_S, self._finish_when_idle)
        else:
            self.done.set_result(None)


async def serve(listen_fd: int, link_fd: int, max_input_size: int) -> None:
    """Relay until the server process stops this worker or goes away."""
    loop = asyncio.get_running_loop()
    relay = Relay(loop, max_input_size)
    await loop.create_unix_connection(lambda: relay, sock=socket.socket(fileno=link_fd))
    relay.listener = await loop.create_server(
        lambda: HttpConnection(relay), sock=socket.socket(fileno=listen_fd), backlog=2048)
    await relay.done


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server process decides when to stop
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    listen_fd, link_fd, max_input_size = (int(a) for a in argv)
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(serve(listen_fd, link_fd, max_input_size))
    else:
        uvloop.run(serve(listen_fd, link_fd, max_input_size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
