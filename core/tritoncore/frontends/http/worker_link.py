"""The server's end of an HTTP worker's link (``--http-workers``): each relayed request runs
through the same :class:`HttpApp` as a local one; its answer goes back in one frame."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tritoncore.frontends.http.connection import Exchange
from tritoncore.frontends.link import ANSWER, CANCEL, REQUEST
from tritoncore.frontends.workers import WorkerLink

if TYPE_CHECKING:
    from tritoncore.frontends.http.app import HttpApp


class RelayedExchange(Exchange):
    """A request a worker relayed; ``rid`` is the worker's name for it."""

    __slots__ = ("rid",)
    rid: int


class HttpWorkerLink(WorkerLink):
    """Relayed requests in, their answers out; the owner of every relayed exchange."""

    def __init__(self, app: HttpApp, proc: asyncio.subprocess.Process,
                 on_lost: Callable[[WorkerLink], None]) -> None:
        super().__init__(app.loop, proc, on_lost)
        self.app = app
        self._inflight: dict[int, RelayedExchange] = {}

    def received(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == REQUEST:
            _, rid, method, url, headers, body, keep_alive = message
            ex = RelayedExchange(self, method, url, headers, body, keep_alive)
            ex.rid = rid
            self._inflight[rid] = ex
            self.app.dispatch(ex)
        elif kind == CANCEL:
            left = self._inflight.pop(message[1], None)
            if left is not None:
                self.app.abandon(left)

    def answered(self, ex: Exchange) -> None:
        """Send the answer, unless the client has left."""
        assert isinstance(ex, RelayedExchange)
        if self._inflight.pop(ex.rid, None) is None:
            return
        parts = ex.parts or [b""]
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.send((ANSWER, ex.rid, data, ex.keep_alive))

    def abandon_all(self) -> None:
        for ex in self._inflight.values():
            self.app.abandon(ex)
        self._inflight.clear()
