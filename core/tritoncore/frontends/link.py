"""Framing on the socket between the server process and a frontend worker process.

A frame is an 8-byte little-endian length, then a ``marshal``-encoded tuple whose first item
is its kind (both ends are the same Python running the same tritoncore, so marshal's format is
shared and its speed is C's). The kinds, by direction:

- any worker -> server: ``(HELLO, pid)`` once it serves; server -> any worker: ``(STOP,)``.
- HTTP worker -> server: ``(REQUEST, id, method, url, headers, body, keep_alive)``,
  ``(CANCEL, id)``; server -> HTTP worker: ``(ANSWER, id, data, keep_alive)``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import marshal
from typing import Any

from tritoncore.loop_poll import for_loop

HELLO, STOP, REQUEST, CANCEL, ANSWER = range(5)
_HEADER = 8
log = logging.getLogger(__name__)


def frame(message: tuple[Any, ...]) -> bytes:
    """One message, framed."""
    payload = marshal.dumps(message)
    return len(payload).to_bytes(_HEADER, "little") + payload


class FrameReader:
    """Turns a byte stream cut anywhere back into messages; joins a large frame's pieces once."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._need = _HEADER  # bytes needed before the next message can be read

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        """Messages completed by ``data``, in order."""
        self._chunks.append(data)
        self._size += len(data)
        if self._size < self._need:
            return []
        buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        view = memoryview(buf)
        out: list[tuple[Any, ...]] = []
        pos, end = 0, len(buf)
        self._need = _HEADER
        while end - pos >= _HEADER:
            size = int.from_bytes(view[pos:pos + _HEADER], "little")
            if end - pos - _HEADER < size:
                self._need = _HEADER + size
                break
            out.append(marshal.loads(view[pos + _HEADER:pos + _HEADER + size]))
            pos += _HEADER + size
        view.release()
        rest = buf[pos:] if pos else buf
        self._chunks = [rest] if rest else []
        self._size = len(rest)
        return out


class LinkEnd(asyncio.Protocol, abc.ABC):
    """Either end of a link: messages in as frames arrive, messages out batched per loop pass
    (everything sent in one pass goes out in one write)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._reader = FrameReader()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._poller = for_loop(loop)

    @abc.abstractmethod
    def on_message(self, message: tuple[Any, ...]) -> None:
        """One message from the other end."""

    def send(self, message: tuple[Any, ...]) -> None:
        if not self._out:
            self.loop.call_soon(self._write)
        self._out.append(frame(message))

    def _write(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None:
            self._transport.writelines(out)
            self._poller.note()  # answers (or requests) usually come back soon

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        for message in self._reader.feed(data):
            try:
                self.on_message(message)
            except Exception:  # a bug fails that message's request, not the whole link
                log.exception("a message of kind %s on a frontend worker's link failed",
                              message[0])

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
