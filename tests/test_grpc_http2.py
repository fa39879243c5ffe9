"""tritoncore's own HTTP/2 for gRPC (``frontends/grpc/http2.py`` and ``calls.py``): real
clients (tritonclient, grpcio) and a raw-socket HTTP/2 peer against a real server, plus the
connection driven directly for framing, HPACK and flow-control invariants."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import grpc
import hpack
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from grpc_support import start_server
from hypothesis import given, settings
from hypothesis import strategies as st
from serverproc import ServerProcess
from tritoncore.frontends.grpc import http2
from tritoncore.protocol import grpc_service_pb2 as pb


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("h2"))  # the native transport is the default
    yield proc
    assert proc.stop() == 0


def fp32(name: str, array: np.ndarray) -> grpcclient.InferInput:
    t = grpcclient.InferInput(name, list(array.shape), "FP32")
    t.set_data_from_numpy(array)
    return t


# --- real clients ----------------------------------------------------------------------------


def sync_client(server: ServerProcess) -> closing[grpcclient.InferenceServerClient]:
    return closing(grpcclient.InferenceServerClient(server.grpc_url))


def test_tensors_larger_than_every_window_both_ways(server: ServerProcess) -> None:
    """48 MiB in and out: many DATA frames, the client's window refilled many times."""
    big = np.random.default_rng(1).random(12 * 1024 * 1024, dtype=np.float32)
    with sync_client(server) as client:
        result = client.infer("identity_fp32", [fp32("INPUT0", big)])
    assert np.array_equal(result.as_numpy("OUTPUT0"), big)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(server: ServerProcess, algorithm: str) -> None:
    data = np.arange(5000, dtype=np.float32)
    with sync_client(server) as client:
        result = client.infer("identity_fp32", [fp32("INPUT0", data)],
                              compression_algorithm=algorithm)
    assert np.array_equal(result.as_numpy("OUTPUT0"), data)


def raw_call(url: str, method: str, payload: bytes) -> grpc.RpcError:
    """The error a unary call of ``method`` with ``payload`` as its message gets."""
    with grpc.insecure_channel(url) as channel:
        call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(payload)
    return err.value


def test_unknown_method_is_unimplemented(server: ServerProcess) -> None:
    err = raw_call(server.grpc_url, "NoSuchRpc", b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchRpc" in (err.details() or "")


def test_an_unparsable_message_is_invalid_argument(server: ServerProcess) -> None:
    err = raw_call(server.grpc_url, "ModelInfer", b"\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ModelInferRequest" in (err.details() or "")


def test_many_concurrent_calls_on_one_connection(server: ServerProcess) -> None:
    async def go() -> None:
        c = aioclient.InferenceServerClient(server.grpc_url)
        try:
            async def one(i: int) -> None:
                data = np.full(4, i, np.float32)
                inputs = [fp32("INPUT0", data), fp32("INPUT1", data * 2)]
                r = await c.infer("add_sub", inputs)
                assert r.as_numpy("OUTPUT0").tolist() == data.tolist()  # identity add_sub
                assert r.as_numpy("OUTPUT1").tolist() == (data * 2).tolist()

            await asyncio.gather(*(one(i) for i in range(300)))
        finally:
            await c.close()

    asyncio.run(go())


# --- a raw HTTP/2 peer -----------------------------------------------------------------------


class RawPeer:
    """A hand-driven HTTP/2 client: frames out, frames in."""

    def __init__(self, url: str) -> None:
        host, port = url.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.buffer = b""

    def send(self, ftype: int, flags: int, sid: int, payload: bytes = b"") -> None:
        self.sock.sendall(http2._frame(ftype, flags, sid, payload))

    def start(self) -> None:
        self.sock.sendall(http2.PREFACE)
        self.send(http2.SETTINGS, 0, 0)

    def call(self, sid: int, method: str, message: bytes, **extra: str) -> None:
        headers = [(":method", "POST"), (":scheme", "http"), (":path", method),
                   (":authority", "x"), ("content-type", "application/grpc"),
                   ("te", "trailers"), *extra.items()]
        self.send(http2.HEADERS, http2.END_HEADERS, sid, self.encoder.encode(headers))
        body = b"\x00" + len(message).to_bytes(4, "big") + message
        self.send(http2.DATA, http2.END_STREAM, sid, body)

    def frame(self) -> tuple[int, int, int, bytes] | None:
        """The next frame; None when the server closed the connection."""
        while True:
            if len(self.buffer) >= 9:
                hi, lo, ftype, flags, sid = http2._HEADER.unpack_from(self.buffer)
                size = (hi << 8) | lo
                if len(self.buffer) >= 9 + size:
                    payload = self.buffer[9 : 9 + size]
                    self.buffer = self.buffer[9 + size :]
                    return ftype, flags, sid, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def status_of(self, sid: int) -> dict[str, str]:
        """Headers of the frame that ends stream ``sid`` (its trailers)."""
        while (f := self.frame()) is not None:
            ftype, flags, fsid, payload = f
            if ftype == http2.HEADERS:
                headers = dict(self.decoder.decode(payload))
                if fsid == sid and flags & http2.END_STREAM:
                    return headers
        raise AssertionError("the connection closed first")


def test_server_side_deadline(server: ServerProcess) -> None:
    """The slow model takes 300 ms; a 100 ms grpc-timeout is answered DEADLINE_EXCEEDED by
    the server itself (this peer never gives up on its own)."""
    peer = RawPeer(server.grpc_url)
    peer.start()
    req = pb.ModelInferRequest(model_name="slow")
    t = req.inputs.add(name="INPUT0", datatype="FP32", shape=[1])
    del t  # data goes in raw_input_contents
    req.raw_input_contents.append(np.ones(1, np.float32).tobytes())
    began = time.monotonic()
    peer.call(1, "/inference.GRPCInferenceService/ModelInfer", req.SerializeToString(),
              **{"grpc-timeout": "100m"})
    trailers = peer.status_of(1)
    assert trailers["grpc-status"] == "4" and trailers["grpc-message"] == "Deadline Exceeded"
    assert time.monotonic() - began < 0.29
    peer.sock.close()


def test_a_protocol_error_ends_that_connection_only(server: ServerProcess) -> None:
    peer = RawPeer(server.grpc_url)
    peer.start()
    peer.send(http2.PUSH_PROMISE, http2.END_HEADERS, 1, b"\x00\x00\x00\x02")
    frames = []
    while (f := peer.frame()) is not None:
        frames.append(f)
    goaway = [payload for ftype, _, _, payload in frames if ftype == http2.GOAWAY]
    assert goaway and struct.unpack(">LL", goaway[0][:8])[1] == http2.PROTOCOL_ERROR
    assert b"PUSH_PROMISE" in goaway[0][8:]
    with sync_client(server) as client:
        assert client.is_server_ready()


def test_http1_on_the_grpc_port_is_closed(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=5) as s:
        s.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert b"HTTP/1.1" not in data  # no HTTP/1 answer: settings, then GOAWAY, then EOF
    with sync_client(server) as client:
        assert client.is_server_live()


def test_ping_is_acknowledged_with_its_payload(server: ServerProcess) -> None:
    peer = RawPeer(server.grpc_url)
    peer.start()
    peer.send(http2.PING, 0, 0, b"12345678")
    while (f := peer.frame()) is not None:
        if f[0] == http2.PING:
            assert f[1] & http2.ACK and f[3] == b"12345678"
            break
    else:
        raise AssertionError("no PING ack")
    peer.sock.close()


# --- the connection driven directly ----------------------------------------------------------


class Transport:
    """Collects what the connection writes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def writelines(self, parts: list[bytes]) -> None:
        for p in parts:
            self.out += p

    def close(self) -> None:
        self.closed = True

    def frames(self) -> list[tuple[int, int, int, bytes]]:
        out, pos = [], 0
        while pos < len(self.out):
            hi, lo, ftype, flags, sid = http2._HEADER.unpack_from(self.out, pos)
            size = (hi << 8) | lo
            out.append((ftype, flags, sid, bytes(self.out[pos + 9 : pos + 9 + size])))
            pos += 9 + size
        self.out.clear()
        return out


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.streams: dict[int, http2.Stream] = {}

    def on_headers(self, stream: http2.Stream, headers: http2.Headers, end: bool) -> None:
        self.streams[stream.id] = stream
        self.events.append(("headers", stream.id, headers, end))

    def on_data(self, stream: http2.Stream, data: bytes, end: bool) -> None:
        if self.events and self.events[-1][:2] == ("data", stream.id) and not self.events[-1][3]:
            before = self.events.pop()[2]  # data may arrive in any number of pieces
            data = before + data
        self.events.append(("data", stream.id, bytes(data), end))

    def on_reset(self, stream: http2.Stream) -> None:
        self.events.append(("reset", stream.id))


def connect() -> tuple[http2.Http2Connection, Transport, Recorder]:
    recorder = Recorder()
    conn = http2.Http2Connection(recorder)
    transport = Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    transport.frames()  # our SETTINGS and window update
    return conn, transport, recorder


HEADER_POOL = [[(":method", "POST"), (":path", f"/svc/M{i % 3}"), ("content-type",
                "application/grpc"), ("x-key", f"value-{i}" * (i % 4))] for i in range(6)]


def client_stream(choices: list[int], sizes: list[int]) -> tuple[bytes, list[tuple[Any, ...]]]:
    """Bytes a client sends (calls with header lists from the pool, data of the given sizes,
    pings between) and the events they must produce."""
    enc = hpack.Encoder()
    enc.header_table_size = 256  # small: entries are evicted, indices shift
    wire = [http2.PREFACE, http2._frame(http2.SETTINGS, 0, 0, b"")]
    events: list[tuple[Any, ...]] = []
    for n, (choice, size) in enumerate(zip(choices, sizes, strict=True)):
        sid = 2 * n + 1
        headers = HEADER_POOL[choice]
        block = enc.encode(headers)
        half = len(block) // 2
        wire.append(http2._frame(http2.HEADERS, 0, sid, block[:half]))  # CONTINUATION too
        wire.append(http2._frame(http2.CONTINUATION, http2.END_HEADERS, sid, block[half:]))
        data = bytes([n % 251]) * size
        wire.append(http2._frame(http2.PING, 0, 0, b"p" * 8))
        wire.append(http2._frame(http2.DATA, http2.PADDED | http2.END_STREAM, sid,
                                 b"\x03" + data + b"\x00\x00\x00"))
        events.append(("headers", sid, headers, False))
        events.append(("data", sid, data, True))
    return b"".join(wire), events


@settings(max_examples=150, deadline=None)
@given(choices=st.lists(st.integers(0, len(HEADER_POOL) - 1), min_size=1, max_size=12),
       data=st.data())
def test_any_split_of_the_byte_stream_gives_the_same_calls(choices: list[int],
                                                           data: st.DataObject) -> None:
    """Headers (HPACK with a churning dynamic table, CONTINUATION, the indexed-block cache),
    padded DATA and PINGs, cut at arbitrary points, decode to what the client sent."""
    sizes = data.draw(st.lists(st.integers(0, 300), min_size=len(choices),
                               max_size=len(choices)))
    wire, expected = client_stream(choices, sizes)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    conn, transport, recorder = connect()
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        conn.data_received(wire[a:b])
    assert recorder.events == expected
    pings = [f for f in transport.frames() if f[0] == http2.PING]
    assert len(pings) == len(choices) and all(f[1] & http2.ACK for f in pings)
    assert not transport.closed


@settings(max_examples=100, deadline=None)
@given(window=st.integers(1, 50), frame_max=st.just(16384),
       sizes=st.lists(st.integers(0, 120), min_size=1, max_size=4),
       grants=st.lists(st.integers(1, 60), max_size=30))
def test_sends_respect_the_peers_windows_and_keep_order(window: int, frame_max: int,
                                                        sizes: list[int],
                                                        grants: list[int]) -> None:
    """DATA never exceeds the stream's or the connection's window; what was held goes out in
    order once WINDOW_UPDATEs arrive, and the trailers come last."""
    conn, transport, recorder = connect()
    settings_frame = struct.pack(">HL", http2.INITIAL_WINDOW_SIZE, window)
    conn.data_received(http2.PREFACE + http2._frame(http2.SETTINGS, 0, 0, settings_frame))
    conn.data_received(http2._frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1,
                                    hpack.Encoder().encode([(":path", "/x")])))
    stream = recorder.streams[1]
    payloads = [bytes([i + 1]) * n for i, n in enumerate(sizes)]
    stream.send_headers(b"\x88")
    for p in payloads:
        stream.send_data(p)
    stream.send_headers(b"\x88", end=True)
    sent = bytearray()
    used = 0
    stream_window, conn_window = window, http2.DEFAULT_WINDOW
    trailers_seen = False
    for grant in [*grants, 10_000]:
        for ftype, flags, sid, payload in transport.frames():
            if ftype == http2.DATA:
                assert not trailers_seen
                used += len(payload)
                assert used <= stream_window and used <= conn_window
                sent += payload
            elif ftype == http2.HEADERS and flags & http2.END_STREAM:
                trailers_seen = True
        stream_window += grant
        conn.data_received(http2._frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">L", grant)))
    for ftype, flags, _, payload in transport.frames():
        if ftype == http2.DATA:
            sent += payload
        elif ftype == http2.HEADERS and flags & http2.END_STREAM:
            trailers_seen = True
    assert bytes(sent) == b"".join(payloads)
    assert trailers_seen


def test_a_client_reset_reaches_the_call() -> None:
    conn, transport, recorder = connect()
    conn.data_received(http2.PREFACE + http2._frame(
        http2.HEADERS, http2.END_HEADERS, 1, hpack.Encoder().encode([(":path", "/x")])))
    conn.data_received(http2._frame(http2.RST_STREAM, 0, 1, struct.pack(">L", http2.CANCEL)))
    assert recorder.events[-1] == ("reset", 1)
    recorder.streams[1].send_data(b"late")  # dropped: the stream is gone
    assert not [f for f in transport.frames() if f[0] == http2.DATA]


def test_replies_in_one_loop_pass_share_one_write_after_the_first() -> None:
    """Calls on one connection answered together (one batch): the first reply goes out at
    once, the others in one write at the end of the loop pass, every frame in order."""

    async def run() -> tuple[list[str], list[tuple[int, int, int, bytes]]]:
        conn, transport, recorder = connect()
        calls: list[str] = []
        real_write, real_lines = transport.write, transport.writelines
        transport.write = lambda data: (calls.append("write"),  # type: ignore[method-assign]
                                        real_write(data))
        transport.writelines = lambda parts: (  # type: ignore[method-assign]
            calls.append(f"writelines({len(parts)})"), real_lines(parts))
        conn.data_received(http2.PREFACE)
        for sid in (1, 3, 5):
            conn.data_received(http2._frame(
                http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, sid,
                hpack.Encoder().encode([(":path", "/x")])))
        await asyncio.sleep(0)  # the SETTINGS ack's pass ends
        calls.clear()
        transport.frames()
        for sid in (1, 3, 5):
            recorder.streams[sid].send_whole(b"\x88", b"reply %d" % sid, b"\x89")
        assert calls == ["write"]  # the others wait for the end of this pass
        await asyncio.sleep(0)
        return calls, transport.frames()

    calls, frames = asyncio.run(run())
    assert calls == ["write", "writelines(2)"]
    assert [(f[0], f[2]) for f in frames] == [
        (t, sid) for sid in (1, 3, 5) for t in (http2.HEADERS, http2.DATA, http2.HEADERS)]
    assert [f[3] for f in frames if f[0] == http2.DATA] == [b"reply 1", b"reply 3", b"reply 5"]


@pytest.mark.parametrize("window", [5, 1000])
def test_a_whole_unary_response_is_one_write_when_it_fits(window: int) -> None:
    conn, transport, recorder = connect()
    writes: list[bytes] = []
    transport.write = lambda data: (writes.append(bytes(data)),  # type: ignore[method-assign]
                                    transport.out.extend(data))
    settings_frame = struct.pack(">HL", http2.INITIAL_WINDOW_SIZE, window)
    conn.data_received(http2.PREFACE + http2._frame(http2.SETTINGS, 0, 0, settings_frame))
    conn.data_received(http2._frame(http2.HEADERS, http2.END_HEADERS | http2.END_STREAM, 1,
                                    hpack.Encoder().encode([(":path", "/x")])))
    writes.clear()
    transport.frames()
    recorder.streams[1].send_whole(b"\x88", b"0123456789", b"\x89")
    if window >= 10:
        assert len(writes) == 1
    conn.data_received(http2._frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">L", 100)))
    frames = transport.frames()
    assert [(f[0], f[1] & http2.END_STREAM) for f in frames if f[0] != http2.SETTINGS] == (
        [(http2.HEADERS, 0), (http2.DATA, 0), (http2.HEADERS, 1)] if window >= 10 else
        [(http2.HEADERS, 0), (http2.DATA, 0), (http2.DATA, 0), (http2.HEADERS, 1)])
    assert b"".join(f[3] for f in frames if f[0] == http2.DATA) == b"0123456789"
    assert 1 not in conn.streams


@pytest.mark.parametrize("ending", ["window", "reset", "lost"])
def test_a_streaming_writer_waits_for_the_clients_window(ending: str) -> None:
    async def go() -> None:
        conn, transport, recorder = connect()
        settings_frame = struct.pack(">HL", http2.INITIAL_WINDOW_SIZE, 8)
        conn.data_received(http2.PREFACE + http2._frame(http2.SETTINGS, 0, 0, settings_frame))
        conn.data_received(http2._frame(http2.HEADERS, http2.END_HEADERS, 1,
                                        hpack.Encoder().encode([(":path", "/x")])))
        stream = recorder.streams[1]
        stream.send_data(b"abc")
        await asyncio.wait_for(stream.drained(), 1)  # fits: no wait
        stream.send_data(b"0123456789")  # 5 bytes of window left
        waiting = asyncio.ensure_future(stream.drained())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        if ending == "window":
            conn.data_received(http2._frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">L", 5)))
        elif ending == "reset":
            conn.data_received(http2._frame(http2.RST_STREAM, 0, 1, struct.pack(">L", 8)))
        else:
            conn.connection_lost(None)
        await asyncio.wait_for(waiting, 1)
        sent = b"".join(f[3] for f in transport.frames() if f[0] == http2.DATA)
        assert sent == (b"abc0123456789" if ending == "window" else b"abc01234")

    asyncio.run(go())


@given(st.text(st.characters(exclude_categories=()), max_size=5000))
def test_status_messages_are_percent_encoded_and_bounded(message: str) -> None:
    from tritoncore.frontends.grpc import calls

    headers = dict(hpack.Decoder().decode(calls.status_block(13, message)))
    assert headers["grpc-status"] == "13"
    text = headers.get("grpc-message", "")
    assert len(text) <= calls.MESSAGE_LIMIT and all(0x20 <= ord(c) < 0x7F for c in text)
    from urllib.parse import unquote_to_bytes

    raw = unquote_to_bytes(text)
    full = message.encode("utf-8", "replace")
    assert full.startswith(raw)  # the whole message, or a prefix cut at an escape boundary
    if len(text) < calls.MESSAGE_LIMIT - 3:
        assert raw == full


@pytest.mark.parametrize(("wire", "code"), [
    (http2._frame(http2.DATA, 0, 0, b"x"), http2.PROTOCOL_ERROR),
    (http2._frame(http2.HEADERS, http2.END_HEADERS, 2, b"\x82"), http2.PROTOCOL_ERROR),
    (http2._frame(http2.HEADERS, http2.END_HEADERS | http2.PADDED, 1, b""), http2.PROTOCOL_ERROR),
    (http2._frame(http2.HEADERS, http2.END_HEADERS | http2.PADDED, 1, b"\x09ab"),
     http2.PROTOCOL_ERROR),
    (http2._frame(http2.PING, 0, 0, b"short"), http2.FRAME_SIZE_ERROR),
    (http2._frame(http2.SETTINGS, 0, 0, b"12345"), http2.FRAME_SIZE_ERROR),
    (http2._frame(http2.CONTINUATION, http2.END_HEADERS, 1, b"\x82"), http2.PROTOCOL_ERROR),
    (http2._frame(http2.HEADERS, 0, 1, b"\x82") + http2._frame(http2.PING, 0, 0, b"8" * 8),
     http2.PROTOCOL_ERROR),
    (http2._frame(http2.HEADERS, http2.END_HEADERS, 1, b"\xff\xff\xff\xff"),
     http2.COMPRESSION_ERROR),
    (http2._frame(http2.WINDOW_UPDATE, 0, 0, b"\x00"), http2.FRAME_SIZE_ERROR),
])
def test_malformed_frames_end_the_connection_with_goaway(wire: bytes, code: int) -> None:
    conn, transport, _ = connect()
    conn.data_received(http2.PREFACE + wire)
    goaway = [f for f in transport.frames() if f[0] == http2.GOAWAY]
    assert transport.closed and goaway
    assert struct.unpack(">LL", goaway[0][3][:8])[1] == code


def test_a_wrong_preface_is_refused() -> None:
    conn, transport, _ = connect()
    conn.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert transport.closed
    assert [f[0] for f in transport.frames()] == [http2.GOAWAY]
