"""One HTTP/1.1 connection: an asyncio.Protocol fed by httptools, no coroutine per request.

Requests are parsed in ``data_received``; a handler answers through its :class:`Exchange`,
at once or later (inference answers from the model's callback). Answers are written in request
order, so pipelined requests are safe.

Clients send the same header block for every request of a kind (perf_analyzer, tritonclient:
same URL, same headers, same Content-Length). A connection remembers the last small request's
header block; the next request that starts with exactly those bytes is taken apart by
slicing, without the parser and its ten callbacks. Anything else goes through the parser.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import httptools
import orjson

from tritoncore.frontends.http import content_encoding
from tritoncore.frontends.http.responses import JSON, TEXT, error_body, error_status, head, plain
from tritoncore.loop_poll import for_loop

if TYPE_CHECKING:
    from tritoncore.scheduling.request import InferenceRequest

log = logging.getLogger(__name__)
_CLOSE = b"Connection: close\r\n"
_LEARN_MAX = 1 << 16  # only requests this small teach a connection their header block
_END_OF_HEAD = b"\r\n\r\n"


class _KnownHead:
    """A header block seen before, and what the parser made of it."""

    __slots__ = ("head", "headers", "keep_alive", "method", "size", "total", "url")

    def __init__(self, head: bytes, method: bytes, url: bytes, headers: dict[bytes, bytes],
                 keep_alive: bool, body_size: int) -> None:
        self.head = head
        self.size = len(head)
        self.total = len(head) + body_size
        self.method = method
        self.url = url
        self.headers = headers
        self.keep_alive = keep_alive


class Owner(Protocol):
    """Whoever writes an exchange's answer: its connection, or the link to a worker process."""

    loop: asyncio.AbstractEventLoop

    def answered(self, ex: Exchange) -> None: ...


class Dispatcher(Protocol):
    """What a connection hands complete requests to: the app, or a worker's relay."""

    loop: asyncio.AbstractEventLoop
    max_input_size: int
    connections: set[HttpConnection]

    def dispatch(self, ex: Exchange) -> None: ...

    def abandon(self, ex: Exchange) -> None:
        """The client left before ``ex`` was answered."""


class Exchange:
    """One request and, once answered, its response bytes."""

    __slots__ = ("body", "conn", "headers", "keep_alive", "method", "parts", "request", "url")

    def __init__(self, conn: Owner, method: bytes, url: bytes,
                 headers: dict[bytes, bytes], body: bytes, keep_alive: bool) -> None:
        self.conn = conn
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.parts: list[Any] | None = None
        self.request: InferenceRequest | None = None  # in flight: cancelled if the peer leaves

    # -- answering -------------------------------------------------------------------------

    def send(self, parts: list[Any]) -> None:
        """Answer with ``parts`` (a head then body pieces); written when its turn comes."""
        if self.parts is None:
            self.parts = parts
            self.request = None
            self.conn.answered(self)

    def reply(self, status: int, body: bytes = b"", content_type: bytes = JSON) -> None:
        if not body:  # nothing to parse: not JSON (Triton's empty answers are text/plain)
            content_type = TEXT
        if self.keep_alive:
            self.send([head(status, content_type, len(body)) + body])
        else:
            self.send([head(status, content_type, len(body), _CLOSE) + body])

    def reply_json(self, obj: Any, status: int = 200) -> None:
        self.reply(status, orjson.dumps(obj))

    def reply_error(self, exc: BaseException) -> None:
        status, body = error_status(exc)
        if status >= 500 and not hasattr(exc, "code"):
            log.error("HTTP %s %s failed", self.method.decode(), self.url.decode("latin-1"),
                      exc_info=exc)
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP %s %s -> %d %s", self.method.decode(),
                      self.url.decode("latin-1"), status, body.decode("utf-8", "replace"))
        self.reply(status, body)

    def reply_body(self, status: int, content_type: bytes, pieces: list[Any],
                   extra: bytes = b"") -> None:
        """A body in pieces (views of output tensors), compressed if the client asked."""
        encoding = content_encoding.choose(self.headers.get(b"accept-encoding"))
        if encoding is not None:
            data = content_encoding.encode(b"".join(pieces), encoding)
            pieces = [data]
            extra += b"Content-Encoding: " + encoding + b"\r\n"
        size = sum(len(p) if isinstance(p, bytes) else p.nbytes for p in pieces)
        if not self.keep_alive:
            extra += _CLOSE
        self.send([head(status, content_type, size, extra), *pieces])

    def run(self, work: Callable[[], Coroutine[Any, Any, Any]], on_done: Callable[[Any], None]) -> None:
        """Run a coroutine (repository loads and the like); ``on_done`` gets its result."""
        task: asyncio.Task[Any] = self.conn.loop.create_task(work())

        def finished(t: asyncio.Task[Any]) -> None:
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self.reply_error(exc)
            else:
                try:
                    on_done(t.result())
                except Exception as e:  # noqa: BLE001 - becomes the response
                    self.reply_error(e)

        task.add_done_callback(finished)


class HttpConnection(asyncio.Protocol):
    """Parses requests with httptools and hands complete ones to the app."""

    def __init__(self, app: Dispatcher) -> None:
        self.app = app
        self.loop = app.loop
        self.max_size = app.max_input_size
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[Exchange] = deque()
        self._poller = for_loop(self.loop)
        self.closing = False
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False
        self._in_message = False
        self._known: _KnownHead | None = None
        self._pending: bytes | None = None  # the start of a request with the known head
        self._raw: list[bytes] | None = None  # chunks of a message that began at a chunk start
        self._begun = 0  # messages begun since ``_raw`` was started
        self._learnable: tuple[bytes, bytes, dict[bytes, bytes], bool, int] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.app.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.app.connections.discard(self)
        self.transport = None
        for ex in self.queue:
            if ex.parts is None:
                self.app.abandon(ex)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self._pending is not None:
            data = self._pending + data
            self._pending = None
        known = self._known
        if known is not None and not self._in_message and data.startswith(known.head):
            if len(data) == known.total:
                ex = Exchange(self, known.method, known.url, known.headers,
                              data[known.size:], known.keep_alive)
                self.queue.append(ex)
                self.app.dispatch(ex)
                return
            if len(data) < known.total:  # the body is still on its way
                self._pending = data
                return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` (which starts between messages or inside one)."""
        if not self._in_message:
            self._raw = [data]
            self._begun = 0
        elif self._raw is not None:
            self._raw.append(data)
            if len(self._raw) > 64:  # a request in many small pieces: not worth learning
                self._raw = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")
            return
        if not self._in_message:
            self._learn()

    def _learn(self) -> None:
        """After a parse that ended between messages: if it was one whole small request that
        began at a chunk's start, remember its header block."""
        raw, learnable = self._raw, self._learnable
        self._raw = self._learnable = None
        if raw is None or learnable is None or self._begun != 1:
            return
        data = raw[0] if len(raw) == 1 else b"".join(raw)
        method, url, headers, keep_alive, body_size = learnable
        head = data[:len(data) - body_size]
        if head.endswith(_END_OF_HEAD):
            self._known = _KnownHead(head, method, url, headers, keep_alive, body_size)

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed, then close (the stream is out of sync)."""
        self.closing = True
        if self.transport is not None:
            self.transport.write(plain(status, error_body(message), close=True))
            self.transport.close()

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._begun += 1
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_size:
            self._too_large = True

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._size += len(body)
        if self._raw is not None and self._size > _LEARN_MAX:
            self._raw = None
        if self._size > self.max_size:
            self._too_large = True
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        method, headers = self.parser.get_method(), self._headers
        keep_alive = self.parser.should_keep_alive()
        if self._raw is not None and keep_alive and not self._too_large and \
                b"transfer-encoding" not in headers and \
                headers.get(b"content-length", b"0") == b"%d" % len(body):
            self._learnable = (method, self._url, headers, keep_alive, len(body))
        ex = Exchange(self, method, self._url, headers, body, keep_alive)
        self.queue.append(ex)
        if self._too_large:
            ex.keep_alive = False  # the rest of a huge body is not worth reading
            ex.reply(413, error_body(
                f"request body is larger than the server's limit of {self.max_size} bytes "
                "(--http-max-input-size)"))
            self.closing = True
            return
        self.app.dispatch(ex)

    # -- writing -----------------------------------------------------------------------------

    def answered(self, ex: Exchange) -> None:
        """``ex`` has its answer: write it and any answered ones queued behind it."""
        self.flush()

    def flush(self) -> None:
        """Write every answered exchange at the head of the queue, in order."""
        queue = self.queue
        transport = self.transport
        while queue and queue[0].parts is not None:
            ex = queue.popleft()
            if transport is None:
                continue
            parts = ex.parts
            if len(parts) == 1:  # type: ignore[arg-type]
                transport.write(parts[0])  # type: ignore[index]
            else:
                transport.writelines(parts)  # type: ignore[arg-type]
            self._poller.note()  # the client's next request may be close behind
            if not ex.keep_alive:
                transport.close()
                self.closing = True
                queue.clear()
                return

    def close_when_idle(self) -> None:
        """Server shutdown: close now if nothing is in flight, else after the last answer."""
        if not self.queue and self.transport is not None:
            self.transport.close()
        else:
            for ex in self.queue:
                ex.keep_alive = False
