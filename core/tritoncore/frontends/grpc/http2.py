"""HTTP/2 (RFC 9113) as far as a gRPC server needs it, on an asyncio protocol.

Frames are parsed by hand; header blocks are decoded by the ``hpack`` package, and a block made
only of indexed fields (what a client sends for every call after its first) is decoded once
per connection. Responses are encoded without HPACK state (literal fields, never indexed).
Flow control: a large receive window replenished as data is consumed; sends wait for the peer's
windows. What the connection does with streams is the ``StreamHandler``'s business.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from typing import Protocol

import hpack

from tritoncore.loop_poll import LoopPoller, for_loop

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADER = struct.Struct(">HBBBL")  # length (24 bits as 16 + 8), type, flags, stream id

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
# flags
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
# settings
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_CONCURRENT_STREAMS = 0x3
# error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 5, 6, 7, 8, 9

DEFAULT_WINDOW = 65535
DEFAULT_MAX_FRAME = 16384
RECEIVE_WINDOW = 1 << 30  # what we let a peer send before we replenish (tensors are large)
OUR_MAX_FRAME = 1 << 20

Headers = list[tuple[str, str]]


class StreamHandler(Protocol):
    """What a connection tells about its streams (all on the event loop)."""

    def on_headers(self, stream: Stream, headers: Headers, end: bool) -> None: ...
    def on_data(self, stream: Stream, data: bytes, end: bool) -> None: ...
    def on_reset(self, stream: Stream) -> None: ...


class ConnectionError_(Exception):
    """The peer broke the protocol: the connection ends with GOAWAY(code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Stream:
    """One request/response exchange; ``call`` is the handler's object for it."""

    __slots__ = (
        "call",
        "conn",
        "drain",
        "id",
        "local_closed",
        "outbox",
        "remote_closed",
        "send_window",
        "unacked",
    )

    def __init__(self, sid: int, conn: Http2Connection, send_window: int) -> None:
        self.id = sid
        self.conn = conn
        self.send_window = send_window
        self.outbox: deque[tuple[int, bytes, bool]] = deque()  # (type, payload, end) blocked
        self.remote_closed = False
        self.local_closed = False
        self.unacked = 0  # bytes received and not yet given back with WINDOW_UPDATE
        self.call: object = None
        self.drain: asyncio.Future[None] | None = None  # set once the outbox is empty

    async def drained(self) -> None:
        """Until what was queued on this stream has been written (or the stream ended)."""
        if self.outbox:
            if self.drain is None or self.drain.done():
                self.drain = asyncio.get_running_loop().create_future()
            await self.drain

    def _drained(self) -> None:
        if self.drain is not None and not self.drain.done():
            self.drain.set_result(None)

    def _abandon(self) -> None:
        """Nothing more is sent on this stream: drop what waits, release a waiting writer."""
        self.local_closed = True
        self.outbox.clear()
        self._drained()

    def send_headers(self, block: bytes, end: bool = False) -> None:
        self.conn.queue(self, HEADERS, block, end)

    def send_data(self, data: bytes, end: bool = False) -> None:
        self.conn.queue(self, DATA, data, end)

    def send_whole(self, head: bytes, data: bytes, tail: bytes) -> None:
        """HEADERS, one DATA frame's worth and the trailers: in one write when they fit."""
        conn = self.conn
        size = len(data)
        if (self.outbox or self.local_closed or conn.transport is None
                or size > min(conn.peer_max_frame, self.send_window, conn.send_window)):
            self.send_headers(head)
            self.send_data(data)
            self.send_headers(tail, end=True)
            return
        self.send_window -= size
        conn.send_window -= size
        self.local_closed = True
        sid = self.id
        conn.send(_frame(HEADERS, END_HEADERS, sid, head) + _frame(DATA, 0, sid, data)
                  + _frame(HEADERS, END_HEADERS | END_STREAM, sid, tail))
        conn._finished(self)


# -- HPACK encoding of what a server sends (stateless: literal fields without indexing) -----

def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: str, value: str | bytes) -> bytes:
    """One header field as a literal without indexing, new name, no Huffman coding."""
    raw_name = name.encode("ascii")
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return (b"\x00" + _integer(len(raw_name), 7, 0) + raw_name + _integer(len(raw), 7, 0)
            + raw)


STATUS_200 = b"\x88"  # ':status: 200' from the static table


def _all_indexed(block: bytes) -> bool:
    """Whether a header block has only indexed fields (so it leaves the dynamic table alone
    and decodes the same way until some other block changes the table)."""
    i, n = 0, len(block)
    while i < n:
        b = block[i]
        if not b & 0x80:
            return False
        i += 1
        if b & 0x7F == 0x7F:  # a multi-byte index
            while i < n and block[i] & 0x80:
                i += 1
            i += 1
    return True


class Http2Connection(asyncio.Protocol):
    """The server side of one HTTP/2 connection."""

    def __init__(self, handler: StreamHandler,
                 registry: set[Http2Connection] | None = None) -> None:
        self.handler = handler
        self.registry = registry if registry is not None else set()  # the open connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()  # an incomplete frame
        self.preface = False
        self.decoder = hpack.Decoder()
        self.blocks: dict[bytes, Headers] = {}  # all-indexed header block -> its fields
        self.streams: dict[int, Stream] = {}
        self.last_id = 0
        self.peer_window = DEFAULT_WINDOW  # initial send window of a new stream
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self.send_window = DEFAULT_WINDOW  # connection-level
        self.unacked = 0
        self.blocked: dict[int, Stream] = {}  # streams with queued frames, in order
        self.continuation: tuple[int, int, bytearray] | None = None  # (sid, flags, block)
        self.going_away = False
        self._later: list[bytes] | None = None  # written at the end of this loop pass
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: LoopPoller | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.registry.add(self)
        try:
            self._loop = asyncio.get_running_loop()
            self._poller = for_loop(self._loop)
        except RuntimeError:  # driven by hand, without a loop: every write goes out at once
            self._loop = None
        assert self.transport is not None
        settings = struct.pack(">HLHLHL", INITIAL_WINDOW_SIZE, RECEIVE_WINDOW, MAX_FRAME_SIZE,
                               OUR_MAX_FRAME, MAX_CONCURRENT_STREAMS, 1 << 16)
        self.send(_frame(SETTINGS, 0, 0, settings)
                  + _frame(WINDOW_UPDATE, 0, 0, struct.pack(">L", RECEIVE_WINDOW - DEFAULT_WINDOW)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.registry.discard(self)
        streams, self.streams = self.streams, {}
        self.blocked.clear()
        for stream in streams.values():
            stream._abandon()
            self.handler.on_reset(stream)

    def data_received(self, data: bytes) -> None:
        buf: bytes | bytearray = data
        if self.buffer:
            self.buffer += data
            buf = self.buffer
        pos = 0
        try:
            if not self.preface:
                if len(buf) < len(PREFACE):
                    if not PREFACE.startswith(buf):
                        raise ConnectionError_(PROTOCOL_ERROR, "not an HTTP/2 connection")
                    self.buffer = bytearray(buf)
                    return
                if not buf.startswith(PREFACE):
                    raise ConnectionError_(PROTOCOL_ERROR, "not an HTTP/2 connection preface "
                                           "(gRPC needs HTTP/2 with prior knowledge)")
                self.preface = True
                pos = len(PREFACE)
            end = len(buf)
            while end - pos >= 9:
                hi, lo, ftype, flags, sid = _HEADER.unpack_from(buf, pos)
                length = (hi << 8) | lo
                if length > OUR_MAX_FRAME:
                    raise ConnectionError_(FRAME_SIZE_ERROR, f"a frame of {length} bytes")
                if end - pos - 9 < length:
                    break
                payload = bytes(buf[pos + 9 : pos + 9 + length])
                pos += 9 + length
                self._frame(ftype, flags, sid & 0x7FFFFFFF, payload)
                if self.transport is None:
                    return
        except ConnectionError_ as exc:
            self._go_away(exc.code, str(exc))
            return
        except Exception:  # a bug must end this connection only
            log.exception("gRPC connection failed")
            self._go_away(INTERNAL_ERROR, "internal error")
            return
        if buf is self.buffer:
            del self.buffer[:pos]
        elif pos < len(buf):
            self.buffer = bytearray(buf[pos:])

    # -- frames in ---------------------------------------------------------------------------
    def _frame(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if self.continuation is not None and ftype != CONTINUATION:
            raise ConnectionError_(PROTOCOL_ERROR, "expected a CONTINUATION frame")
        if ftype == DATA:
            self._data(flags, sid, payload)
        elif ftype == HEADERS:
            self._headers(flags, sid, payload)
        elif ftype == CONTINUATION:
            if self.continuation is None or self.continuation[0] != sid:
                raise ConnectionError_(PROTOCOL_ERROR, "unexpected CONTINUATION frame")
            self.continuation[2].extend(payload)
            if flags & END_HEADERS:
                sid, first_flags, block = self.continuation
                self.continuation = None
                self._header_block(sid, first_flags, bytes(block))
        elif ftype == SETTINGS:
            if not flags & ACK:
                self._settings(payload)
        elif ftype == WINDOW_UPDATE:
            self._window_update(sid, payload)
        elif ftype == PING:
            if len(payload) != 8:
                raise ConnectionError_(FRAME_SIZE_ERROR, "a PING frame must carry 8 bytes")
            if not flags & ACK:
                self.send(_frame(PING, ACK, 0, payload))
        elif ftype == RST_STREAM:
            stream = self.streams.pop(sid, None)
            if stream is not None:
                stream._abandon()
                self.blocked.pop(sid, None)
                self.handler.on_reset(stream)
        elif ftype == GOAWAY:
            self.going_away = True
            self._close_if_done()
        elif ftype == PUSH_PROMISE:
            raise ConnectionError_(PROTOCOL_ERROR, "a client must not send PUSH_PROMISE")
        # PRIORITY and unknown frame types are ignored

    def _headers(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0 or not sid & 1:
            raise ConnectionError_(PROTOCOL_ERROR, f"HEADERS on stream {sid}")
        start, stop = 0, len(payload)
        if flags & PADDED:
            if not payload:
                raise ConnectionError_(PROTOCOL_ERROR, "a PADDED HEADERS frame without padding")
            start, stop = 1, stop - payload[0]
        if flags & PRIORITY_FLAG:
            start += 5
        if start > stop:
            raise ConnectionError_(PROTOCOL_ERROR, "HEADERS padding exceeds the frame")
        block = payload[start:stop]
        if not flags & END_HEADERS:
            self.continuation = (sid, flags, bytearray(block))
            return
        self._header_block(sid, flags, block)

    def _header_block(self, sid: int, flags: int, block: bytes) -> None:
        headers = self.blocks.get(block)
        if headers is None:
            try:
                headers = [(str(n), str(v)) for n, v in self.decoder.decode(block)]
            except hpack.HPACKError as exc:
                raise ConnectionError_(COMPRESSION_ERROR, f"bad header block: {exc}") from None
            if _all_indexed(block):
                self.blocks[block] = headers
            else:
                self.blocks.clear()  # the dynamic table may have changed
        end = bool(flags & END_STREAM)
        stream = self.streams.get(sid)
        if stream is not None:  # trailers from the client end its side
            if end:
                stream.remote_closed = True
                self.handler.on_data(stream, b"", True)
            return
        if sid <= self.last_id:
            self._reset(sid, STREAM_CLOSED)
            return
        self.last_id = sid
        if self.going_away:
            self._reset(sid, REFUSED_STREAM)
            return
        stream = Stream(sid, self, self.peer_window)
        stream.remote_closed = end
        self.streams[sid] = stream
        self.handler.on_headers(stream, headers, end)

    def _data(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionError_(PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        if flags & PADDED:
            if not payload or payload[0] >= size:
                raise ConnectionError_(PROTOCOL_ERROR, "DATA padding exceeds the frame")
            payload = payload[1 : size - payload[0]]
        self.unacked += size
        updates = b""
        if self.unacked >= RECEIVE_WINDOW // 2:
            updates = _frame(WINDOW_UPDATE, 0, 0, struct.pack(">L", self.unacked))
            self.unacked = 0
        stream = self.streams.get(sid)
        if stream is None or stream.remote_closed:
            if updates:
                self.send(updates)
            if sid > self.last_id:
                raise ConnectionError_(PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream we closed or reset: the bytes are dropped
        stream.unacked += size
        if stream.unacked >= RECEIVE_WINDOW // 2 and not flags & END_STREAM:
            updates += _frame(WINDOW_UPDATE, 0, sid, struct.pack(">L", stream.unacked))
            stream.unacked = 0
        if updates:
            self.send(updates)
        end = bool(flags & END_STREAM)
        if end:
            stream.remote_closed = True
        self.handler.on_data(stream, payload, end)
        if end and stream.local_closed:
            self.streams.pop(sid, None)

    def _settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise ConnectionError_(FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6")
        for i in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HL", payload, i)
            if key == INITIAL_WINDOW_SIZE:
                if value > 0x7FFFFFFF:
                    raise ConnectionError_(FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self.peer_window
                self.peer_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME <= value <= 0xFFFFFF:
                    raise ConnectionError_(PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value}")
                self.peer_max_frame = value
        self.send(_frame(SETTINGS, ACK, 0, b""))
        self._flush_blocked()

    def _window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionError_(FRAME_SIZE_ERROR, "WINDOW_UPDATE must carry 4 bytes")
        increment = struct.unpack(">L", payload)[0] & 0x7FFFFFFF
        if sid == 0:
            self.send_window += increment
        elif (stream := self.streams.get(sid)) is not None:
            stream.send_window += increment
        self._flush_blocked()

    # -- frames out --------------------------------------------------------------------------
    def queue(self, stream: Stream, ftype: int, payload: bytes, end: bool) -> None:
        """Send a HEADERS or DATA frame on ``stream`` (DATA split and held as windows say)."""
        if stream.local_closed or self.transport is None:
            return
        if end:
            stream.local_closed = True
        if stream.outbox:  # behind frames that wait for a window
            stream.outbox.append((ftype, payload, end))
            return
        if not self._write(stream, ftype, payload, end):  # the rest waits in the outbox
            self.blocked[stream.id] = stream
            return
        if end:
            self._finished(stream)

    def _write(self, stream: Stream, ftype: int, payload: bytes, end: bool) -> bool:
        """Write what the windows allow; False (with the rest kept) when DATA must wait."""
        if ftype == HEADERS:
            self.send(_frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream.id,
                             payload))
            return True
        size = len(payload)
        if size <= self.peer_max_frame and size <= stream.send_window and size <= self.send_window:
            stream.send_window -= size
            self.send_window -= size
            self.send(_frame(DATA, END_STREAM if end else 0, stream.id, payload))
            return True
        view = memoryview(payload)
        sent = 0
        frames = []
        while sent < size:
            room = min(self.peer_max_frame, stream.send_window, self.send_window, size - sent)
            if room <= 0:
                break
            last = sent + room == size
            frames.append(_frame(DATA, END_STREAM if end and last else 0, stream.id,
                                 view[sent : sent + room]))
            stream.send_window -= room
            self.send_window -= room
            sent += room
        for frame in frames:
            self.send(frame)
        if sent < size:
            stream.outbox.appendleft((DATA, bytes(view[sent:]), end))
            return False
        return True

    def _flush_blocked(self) -> None:
        for sid, stream in list(self.blocked.items()):
            if self.transport is None:
                return
            while stream.outbox:
                ftype, payload, end = stream.outbox.popleft()
                if not self._write(stream, ftype, payload, end):
                    break
                if end:
                    self._finished(stream)
            if not stream.outbox:
                self.blocked.pop(sid, None)
                stream._drained()
            if self.send_window <= 0:
                return

    def _finished(self, stream: Stream) -> None:
        """We sent END_STREAM: forget the stream (telling the client to stop sending, if it
        has not finished)."""
        self.blocked.pop(stream.id, None)
        if self.streams.pop(stream.id, None) is not None and not stream.remote_closed:
            self._reset(stream.id, NO_ERROR)
        self._close_if_done()

    def _reset(self, sid: int, code: int) -> None:
        self.send(_frame(RST_STREAM, 0, sid, struct.pack(">L", code)))

    def _go_away(self, code: int, message: str) -> None:
        log.warning("gRPC connection closed: %s", message)
        if self.transport is not None:
            self.send(_frame(GOAWAY, 0, 0, struct.pack(">LL", self.last_id, code)
                             + message.encode()[:256]))
            self._close()

    def shutdown(self) -> None:
        """Refuse new streams; close once the open ones have finished."""
        if self.transport is not None and not self.going_away:
            self.going_away = True
            self.send(_frame(GOAWAY, 0, 0, struct.pack(">LL", self.last_id, NO_ERROR)))
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self.going_away and not self.streams and self.transport is not None:
            self._close()

    # -- writing -----------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write ``data`` to the peer, in order. The first write of a loop pass goes out at
        once; later ones in the same pass wait for its end and go out in one write (calls
        sharing a connection, answered by one batch, cost one system call, not one each)."""
        transport = self.transport
        if transport is None:
            return
        if self._later is not None:
            self._later.append(data)
            return
        transport.write(data)
        if self._loop is not None:
            self._poller.note()  # type: ignore[union-attr]  # the next call may be close behind
            self._later = []
            self._loop.call_soon(self._end_of_pass)

    def _end_of_pass(self) -> None:
        later, self._later = self._later, None
        if later and self.transport is not None:
            self.transport.writelines(later)

    def _close(self) -> None:
        """Close after writing everything queued."""
        self._end_of_pass()
        if self.transport is not None:
            self.transport.close()


def _frame(ftype: int, flags: int, sid: int, payload: bytes | memoryview) -> bytes:
    size = len(payload)
    return _HEADER.pack(size >> 8, size & 0xFF, ftype, flags, sid) + payload
