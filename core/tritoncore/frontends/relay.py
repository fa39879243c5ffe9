"""The worker-process side of ``--http-workers``: what a frontend worker does besides its
protocol. A worker accepts connections on the listening socket it inherited,
speaks the protocol with its clients, and relays what they ask to the server process over its
link (a socket pair, :mod:`tritoncore.frontends.link` frames); the server's answers come back
the same way. It exits when the server closes the link, or after ``STOP`` once its clients
have gone.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from tritoncore.frontends.link import HELLO, STOP, LinkEnd

_IDLE_CHECK_S = 0.02  # after STOP: how often to look whether every client has left


class WorkerRelay(LinkEnd):
    """The worker's end of the link; subclasses speak one protocol with the clients."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.listener: asyncio.AbstractServer | None = None
        self.done: asyncio.Future[None] = loop.create_future()

    @abc.abstractmethod
    def client(self) -> asyncio.Protocol:
        """A protocol object for a newly accepted client connection."""

    @abc.abstractmethod
    def received(self, message: tuple[Any, ...]) -> None:
        """A message from the server process (other than STOP)."""

    @abc.abstractmethod
    def clients(self) -> int:
        """Client connections still open."""

    @abc.abstractmethod
    def close_clients(self, now: bool) -> None:
        """Close every client connection: ``now``, or once each has had its answers."""

    # -- the link ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.send((HELLO, os.getpid()))

    def on_message(self, message: tuple[Any, ...]) -> None:
        if message[0] == STOP:
            self._stop_accepting(now=False)
        else:
            self.received(message)

    def connection_lost(self, exc: Exception | None) -> None:
        """The server process is gone: nothing pending can be answered any more."""
        super().connection_lost(exc)
        self._stop_accepting(now=True)

    # -- stopping ----------------------------------------------------------------------------

    def _stop_accepting(self, now: bool) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self.close_clients(now)
        self._finish_when_idle()

    def _finish_when_idle(self) -> None:
        if self.done.done():
            return
        if self.clients():
            self.loop.call_later(_IDLE_CHECK_S, self._finish_when_idle)
        else:
            self.done.set_result(None)


async def _serve(make: Callable[[asyncio.AbstractEventLoop], WorkerRelay], listen_fd: int,
                 link_fd: int) -> None:
    loop = asyncio.get_running_loop()
    relay = make(loop)
    await loop.create_unix_connection(lambda: relay, sock=socket.socket(fileno=link_fd))
    relay.listener = await loop.create_server(
        relay.client, sock=socket.socket(fileno=listen_fd), backlog=2048)
    await relay.done


def run_worker(make: Callable[[asyncio.AbstractEventLoop], WorkerRelay], listen_fd: int,
               link_fd: int) -> int:
    """A worker process's main: relay until stopped (uvloop when installed)."""
    # The server process decides when a worker stops (STOP, or its end of the link closing):
    # a Ctrl-C or a SIGTERM sent to the whole process group must not take workers away
    # under a server that is still answering their clients.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(_serve(make, listen_fd, link_fd))
    else:
        uvloop.run(_serve(make, listen_fd, link_fd))
    return 0
