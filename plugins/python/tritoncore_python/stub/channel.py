"""Framing of control messages on a stream socket: 4-byte length, then a pickled message (a
dict with an "op", or one of the two positional execute messages of `wire.py`).

Messages are small (descriptors of tensors in the arenas, never tensor data except inline
BLS results); pickle protocol 5 is fast and understood by every supported Python.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
import time
from os import sched_yield as yield_cpu
from typing import Any

HEADER = struct.Struct("<I")
#: a dict with an "op", or one of the positional execute messages (``wire``)
Message = dict[str, Any] | tuple[Any, ...]


def encode(message: Message) -> bytes:
    body = pickle.dumps(message, protocol=5)
    return HEADER.pack(len(body)) + body


class Decoder:
    """Feeds bytes in, yields whole messages out."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        if not self.buffer and len(data) >= HEADER.size:  # the usual case: one whole message
            (size,) = HEADER.unpack_from(data)
            if len(data) == HEADER.size + size:
                return [pickle.loads(memoryview(data)[HEADER.size:])]
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            end = HEADER.size + size
            if len(self.buffer) < end:
                break
            out.append(pickle.loads(memoryview(self.buffer)[HEADER.size : end]))
            del self.buffer[:end]
        return out


class PollGate:
    """Whether polling for the next operation pays: it does while the next one mostly came
    within the poll's budget (of the last ``WINDOW`` gaps between an answer and the next
    operation, at least half). A stub whose batches come further apart than that (a server
    that is the bottleneck, idle clients) sleeps instead of burning the CPU the others need."""

    WINDOW = 8
    _ALL = (1 << WINDOW) - 1  # a bit for each gap of the window

    def __init__(self, budget_ns: int) -> None:
        self.budget_ns = budget_ns
        self._history = self._ALL  # one bit a gap, 1: within the budget

    def record(self, gap_ns: int) -> None:
        self._history = ((self._history << 1) | (gap_ns <= self.budget_ns)) & self._ALL

    def budget(self) -> int:
        """Nanoseconds to poll for the next operation (0: sleep at once)."""
        return self.budget_ns if self._history.bit_count() * 2 >= self.WINDOW else 0


class BlockingChannel:
    """The stub's end: thread-safe sends, blocking receives."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.decoder = Decoder()
        self.pending: list[Message] = []
        self.closed = False

    def send(self, message: Message) -> None:
        data = encode(message)
        with self.lock:
            self.sock.sendall(data)

    def recv(self, wait: bool = True, spin_ns: int = 0) -> Message | None:
        """The next message; None when the server closed the channel (or, with
        ``wait=False``, when no whole message has arrived yet). ``spin_ns``: poll that long
        before sleeping. Callers serialize receives."""
        while not self.pending:
            data = self._poll(spin_ns) if spin_ns and wait else None
            spin_ns = 0
            try:
                if data is None:
                    data = self.sock.recv(1 << 16, 0 if wait else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            if not data:
                self.closed = True
                return None
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def _poll(self, spin_ns: int) -> bytes | None:
        """What arrives within ``spin_ns``, read without sleeping (None if nothing did)."""
        recv = self.sock.recv
        clock = time.perf_counter_ns
        deadline = clock() + spin_ns
        while clock() < deadline:
            try:
                return recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                yield_cpu()  # a runnable neighbour (the server, a client) goes first
        return None
