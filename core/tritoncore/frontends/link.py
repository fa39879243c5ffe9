"""Framing on the socket between the server process and a frontend worker process.

A frame is an 8-byte little-endian length, then a ``marshal``-encoded tuple whose first item
is its kind (both ends are the same Python running the same tritoncore, so marshal's format is
shared and its speed is C's). The kinds, by direction:

- any worker -> server: ``(HELLO, pid)`` once it serves; server -> any worker: ``(STOP,)``.
- HTTP worker -> server: ``(REQUEST, id, method, url, headers, body, keep_alive)``,
  ``(CANCEL, id)``; server -> HTTP worker: ``(ANSWER, id, data, keep_alive)``.
"""

from __future__ import annotations

import marshal
from typing import Any

HELLO, STOP, REQUEST, CANCEL, ANSWER = range(5)
_HEADER = 8


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
