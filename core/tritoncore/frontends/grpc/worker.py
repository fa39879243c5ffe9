"""A gRPC worker process (``--grpc-workers``): speaks HTTP/2 with the clients (framing, HPACK,
flow control) and relays each stream's headers, data and reset to the server process, which
runs the calls; what the calls send comes back and goes out on the stream. Started as
``python -m tritoncore.frontends.grpc.worker LISTEN_FD LINK_FD`` by
:class:`tritoncore.frontends.workers.WorkerPool`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from tritoncore.frontends.grpc.http2 import Headers, Http2Connection, Stream
from tritoncore.frontends.link import (
    DATA_IN,
    DATA_OUT,
    HEADERS_IN,
    HEADERS_OUT,
    RESET_IN,
    WHOLE_OUT,
)
from tritoncore.frontends.relay import WorkerRelay, run_worker


class GrpcRelay(WorkerRelay):
    """Relays streams; also the stream handler of every connection the worker accepts."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.connections: set[Http2Connection] = set()
        self._streams: dict[int, Stream] = {}  # relay id -> stream, until we end it
        self._next_id = 0

    def client(self) -> asyncio.Protocol:
        return Http2Connection(self, self.connections)

    # -- StreamHandler (what connections call) -----------------------------------------------

    def on_headers(self, stream: Stream, headers: Headers, end: bool) -> None:
        self._next_id += 1
        stream.call = self._next_id
        self._streams[self._next_id] = stream
        self.send((HEADERS_IN, self._next_id, headers, end))

    def on_data(self, stream: Stream, data: bytes, end: bool) -> None:
        if isinstance(stream.call, int):
            self.send((DATA_IN, stream.call, data, end))

    def on_reset(self, stream: Stream) -> None:
        rid = stream.call
        if isinstance(rid, int) and self._streams.pop(rid, None) is not None:
            self.send((RESET_IN, rid))

    # -- WorkerRelay ---------------------------------------------------------------------------

    def received(self, message: tuple[Any, ...]) -> None:
        kind, rid = message[0], message[1]
        stream = self._streams.get(rid)
        if stream is None:
            return  # the client reset it meanwhile
        if kind == WHOLE_OUT:
            stream.send_whole(message[2], message[3], message[4])
            end = True
        elif kind == HEADERS_OUT:
            stream.send_headers(message[2], message[3])
            end = message[3]
        elif kind == DATA_OUT:
            stream.send_data(message[2], message[3])
            end = message[3]
        else:
            return
        if end:
            del self._streams[rid]
            stream.call = None

    def clients(self) -> int:
        return len(self.connections)

    def close_clients(self, now: bool) -> None:
        for conn in list(self.connections):
            if not now:
                conn.shutdown()  # GOAWAY; closes once its streams have ended
            elif conn.transport is not None:
                conn.transport.close()


if __name__ == "__main__":
    listen_fd, link_fd = (int(a) for a in sys.argv[1:3])
    sys.exit(run_worker(GrpcRelay, listen_fd, link_fd))
