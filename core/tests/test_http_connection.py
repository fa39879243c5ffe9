"""HttpConnection's header-block cache: a request whose header block is byte-identical to the
last one's is taken apart without the parser, and that must never change what the app gets.

Driven with real httptools parsing and a recording app (no server, no sockets): the same
byte stream, cut into chunks anywhere, must give the same exchanges as the parser alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from tritoncore.frontends.http.connection import Exchange, HttpConnection


class RecordingApp:
    """A dispatcher that records what each complete request was."""

    max_input_size = 1 << 20

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.connections: set[HttpConnection] = set()
        self.seen: list[tuple[bytes, bytes, dict[bytes, bytes], bytes, bool]] = []

    def dispatch(self, ex: Exchange) -> None:
        self.seen.append((ex.method, ex.url, dict(ex.headers), ex.body, ex.keep_alive))

    def abandon(self, ex: Exchange) -> None:
        pass


class CountingParser:
    """The real parser, counting the bytes it is fed."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.fed = 0

    def feed_data(self, data: bytes) -> None:
        self.fed += len(data)
        self.parser.feed_data(data)

    def get_method(self) -> bytes:
        return self.parser.get_method()  # type: ignore[no-any-return]

    def should_keep_alive(self) -> bool:
        return self.parser.should_keep_alive()  # type: ignore[no-any-return]


def connection() -> tuple[HttpConnection, RecordingApp, CountingParser]:
    app = RecordingApp()
    conn = HttpConnection(app)  # type: ignore[arg-type]
    counting = CountingParser(conn.parser)
    conn.parser = counting  # type: ignore[assignment]
    return conn, app, counting


def infer(body: bytes, path: bytes = b"/v2/models/m/infer", extra: bytes = b"") -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
            % (path, len(body), extra)) + body


def chunked(body: bytes) -> bytes:
    """A request whose body comes in chunked transfer encoding (never learned)."""
    return (b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))


def feed(conn: HttpConnection, stream: bytes, cuts: list[int]) -> None:
    at = 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        if cut > at:
            conn.data_received(stream[at:cut])
            at = cut


REQUESTS = st.lists(st.one_of(
    st.binary(min_size=8, max_size=8).map(infer),  # one header block, bodies differ
    st.binary(min_size=0, max_size=20).map(infer),  # other lengths: other header blocks
    st.just(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"),
    st.binary(min_size=8, max_size=8).map(lambda b: infer(b, b"/v2/models/n/infer")),
    st.binary(min_size=1, max_size=9).map(chunked),
), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(REQUESTS, st.lists(st.integers(min_value=0, max_value=1000), max_size=12),
       st.booleans())
def test_any_chunking_gives_the_exchanges_the_parser_gives(requests: list[bytes],
                                                           cuts: list[int],
                                                           one_by_one: bool) -> None:
    """Whatever the requests and wherever TCP cuts them, the app sees exactly what parsing
    the whole stream gives."""
    reference, expected, _ = connection()
    reference._known = None
    reference.parser.feed_data(b"".join(requests))  # the parser alone, no cache
    conn, app, _ = connection()
    if one_by_one:  # each request in its own chunks (what clients without pipelining do)
        for r in requests:
            feed(conn, r, cuts)
    else:
        feed(conn, b"".join(requests), cuts)
    assert app.seen == expected.seen
    assert len(app.seen) == len(requests)


def test_a_repeated_header_block_skips_the_parser() -> None:
    conn, app, parser = connection()
    first = infer(b"\x01" * 16)
    conn.data_received(first)
    assert parser.fed == len(first)
    for value in range(2, 6):  # same header block, other body bytes
        conn.data_received(infer(bytes([value]) * 16))
    assert parser.fed == len(first)
    assert [body for _, _, _, body, _ in app.seen] == [bytes([v]) * 16 for v in range(1, 6)]


def test_a_header_block_then_its_body_in_another_chunk_skips_the_parser() -> None:
    """curl (perf_analyzer) writes the header block and the body separately."""
    conn, app, parser = connection()
    head, body = infer(b"a" * 16)[:-16], b"a" * 16
    conn.data_received(head)
    conn.data_received(body)
    fed = parser.fed
    conn.data_received(head)
    conn.data_received(b"b" * 10)
    conn.data_received(b"b" * 6)
    assert parser.fed == fed
    assert [seen[3] for seen in app.seen] == [b"a" * 16, b"b" * 16]


def test_a_known_header_block_followed_by_the_next_request_goes_to_the_parser() -> None:
    conn, app, parser = connection()
    conn.data_received(infer(b"x" * 4))
    conn.data_received(infer(b"y" * 4) + infer(b"z" * 4))  # pipelined: longer than one
    assert [seen[3] for seen in app.seen] == [b"x" * 4, b"y" * 4, b"z" * 4]
    assert parser.fed == 3 * len(infer(b"x" * 4))


def test_requests_that_close_the_connection_are_not_learned() -> None:
    conn, app, parser = connection()
    request = infer(b"q" * 4, extra=b"Connection: close\r\n")
    conn.data_received(request)
    assert conn._known is None
    assert app.seen[0][4] is False
