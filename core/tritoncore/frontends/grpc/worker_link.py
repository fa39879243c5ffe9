"""The server's end of a gRPC worker's link (``--grpc-workers``): each relayed stream becomes
a :class:`RemoteStream` that the same :class:`~tritoncore.frontends.grpc.calls.Router` and
calls serve as they serve a local HTTP/2 stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tritoncore.frontends.grpc.calls import Router
from tritoncore.frontends.link import (
    DATA_IN,
    DATA_OUT,
    HEADERS_IN,
    HEADERS_OUT,
    RESET_IN,
    WHOLE_OUT,
)
from tritoncore.frontends.workers import WorkerLink


class RemoteStream:
    """A stream living in a worker process; what a call sends on it goes over the link.

    ``drained()`` returns at once: the worker, not the server, sees the client's flow-control
    window, so a streaming call's responses to a slow reader wait in the worker's memory.
    """

    __slots__ = ("call", "link", "rid")

    def __init__(self, link: GrpcWorkerLink, rid: int) -> None:
        self.link = link
        self.rid = rid
        self.call: object = None

    def send_headers(self, block: bytes, end: bool = False) -> None:
        self.link.out(self, (HEADERS_OUT, self.rid, block, end), end)

    def send_data(self, data: bytes, end: bool = False) -> None:
        self.link.out(self, (DATA_OUT, self.rid, data, end), end)

    def send_whole(self, head: bytes, data: bytes, tail: bytes) -> None:
        self.link.out(self, (WHOLE_OUT, self.rid, head, data, tail), True)

    async def drained(self) -> None:
        return None


class GrpcWorkerLink(WorkerLink):
    """Relayed streams in, what their calls send out."""

    def __init__(self, router: Router, proc: asyncio.subprocess.Process,
                 on_lost: Callable[[WorkerLink], None]) -> None:
        super().__init__(router.loop, proc, on_lost)
        self.router = router
        self._streams: dict[int, RemoteStream] = {}

    def received(self, message: tuple[Any, ...]) -> None:
        kind, rid = message[0], message[1]
        if kind == HEADERS_IN:
            stream = RemoteStream(self, rid)
            self._streams[rid] = stream
            self.router.on_headers(stream, message[2], message[3])
        elif kind == DATA_IN:
            stream_ = self._streams.get(rid)
            if stream_ is not None:
                self.router.on_data(stream_, message[2], message[3])
        elif kind == RESET_IN:
            gone = self._streams.pop(rid, None)
            if gone is not None:
                self.router.on_reset(gone)

    def out(self, stream: RemoteStream, message: tuple[Any, ...], end: bool) -> None:
        """Send what a call sent on ``stream``; after its end the stream is forgotten."""
        if end and self._streams.pop(stream.rid, None) is None:
            return  # already ended or reset
        if not end and stream.rid not in self._streams:
            return
        self.send(message)

    def abandon_all(self) -> None:
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            self.router.on_reset(stream)
