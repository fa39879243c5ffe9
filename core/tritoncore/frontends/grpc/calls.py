"""gRPC calls on tritoncore's own HTTP/2 connections (``http2``): routing by path, the
length-prefixed messages, statuses in trailers, deadlines and cancellation.

The RPC handlers are ``service.InferenceService``'s, as with the grpcio transport. ModelInfer
has a path of its own: it hands the request to the model and answers from the response
callback, with no task or future per call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from tritoncore.errors import TritonError
from tritoncore.frontends.grpc import codec, restricted
from tritoncore.frontends.grpc.http2 import STATUS_200, Headers, Stream, literal
from tritoncore.frontends.grpc.service import unexpected as _unexpected
from tritoncore.scheduling.delivery import final_on_loop
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse

log = logging.getLogger(__name__)

#: gRPC status code numbers by name.
STATUS = {name: number for number, name in enumerate(
    ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
     "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
     "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
     "UNAUTHENTICATED"))}
#: grpc-timeout units, in seconds.
TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
#: grpc-encoding -> how to inflate a compressed message.
INFLATE: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda b: zlib.decompress(b, 31),
    "deflate": zlib.decompress,
}

RESPONSE_HEADERS = STATUS_200 + literal("content-type", "application/grpc")
OK_TRAILERS = literal("grpc-status", "0")
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("%")}
MESSAGE_LIMIT = 8192


def status_block(code: int, message: str) -> bytes:
    """grpc-status and grpc-message (percent-encoded UTF-8, as the protocol wants; at most
    MESSAGE_LIMIT bytes, so the block fits any peer's smallest frame)."""
    raw = message.encode("utf-8", "replace")
    text = "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in raw)
    if len(text) > MESSAGE_LIMIT:
        cut = MESSAGE_LIMIT
        while "%" in text[cut - 2 : cut]:  # not inside a %XX escape
            cut -= 1
        text = text[:cut]
    return literal("grpc-status", str(code)) + (literal("grpc-message", text) if text else b"")


def _message(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC: its request message, shape (unary, server-stream, stream) and handler."""

    name: str
    request: Any
    kind: str
    handler: Any
    rule: restricted.Restriction | None


class Router:
    """Routes each new stream to its method and makes a ``Call`` of it."""

    def __init__(self, service: Any, rpcs: dict[str, dict[str, tuple[Any, Any, str]]],
                 rules: dict[str, restricted.Restriction]) -> None:
        self.server = service.server
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.methods = {f"/{svc}/{name}": Method(name, req, kind, getattr(service, name),
                                                 rules.get(name))
                        for svc, table in rpcs.items() for name, (req, _, kind) in table.items()}

    def on_headers(self, stream: Stream, headers: Headers, end: bool) -> None:
        path = content_type = encoding = timeout = None
        metadata = []
        for name, value in headers:
            if name[0] == ":":
                if name == ":path":
                    path = value
                continue
            if name == "content-type":
                content_type = value
            elif name == "grpc-encoding":
                encoding = value
            elif name == "grpc-timeout":
                timeout = value
            metadata.append((name, value))
        if content_type is None or not content_type.startswith("application/grpc"):
            stream.send_headers(literal(":status", "415"), end=True)
            return
        call = Call(self, stream)
        stream.call = call
        method = self.methods.get(path or "")
        if method is None:
            call.fail(STATUS["UNIMPLEMENTED"], f"Method not found: {path}")
            return
        if method.rule is not None and not restricted.allowed(method.rule, metadata):
            call.fail(STATUS["UNAVAILABLE"], method.rule.message())
            return
        if encoding not in (None, "identity") and encoding not in INFLATE:
            call.fail(STATUS["UNIMPLEMENTED"],
                      f"grpc-encoding '{encoding}' is not supported (use identity, gzip or "
                      "deflate)")
            return
        call.start(method, encoding, timeout)
        if end:
            call.feed(b"", True)

    def on_data(self, stream: Stream, data: bytes, end: bool) -> None:
        call = stream.call
        if isinstance(call, Call):
            call.feed(data, end)

    def on_reset(self, stream: Stream) -> None:
        call = stream.call
        if isinstance(call, Call):
            call.cancel()


class Call:
    """One RPC in progress on one stream; also the ``context`` the handlers get."""

    def __init__(self, router: Router, stream: Stream) -> None:
        self.router = router
        self.stream = stream
        self.method: Method | None = None
        self.encoding: str | None = None
        self.pending = bytearray()
        self.headers_sent = False
        self.done = False
        self.task: asyncio.Task[None] | None = None
        self.request: InferenceRequest | None = None
        self.inbox: asyncio.Queue[Any] | None = None  # request messages of a stream call
        self.deadline: asyncio.TimerHandle | None = None

    def start(self, method: Method, encoding: str | None, timeout: str | None) -> None:
        self.method = method
        self.encoding = encoding
        if method.kind == "stream":
            self.inbox = asyncio.Queue()
            self.task = asyncio.get_running_loop().create_task(self._run(self._requests()))
        if timeout is not None:
            try:
                seconds = int(timeout[:-1]) * TIMEOUT_UNITS[timeout[-1]]
            except (KeyError, ValueError, IndexError):
                self.fail(STATUS["INVALID_ARGUMENT"], f"malformed grpc-timeout '{timeout}'")
                return
            self.deadline = asyncio.get_running_loop().call_later(seconds, self._expired)

    # -- request messages --------------------------------------------------------------------
    def feed(self, data: bytes, end: bool) -> None:
        if self.done or self.method is None:
            return
        if self.inbox is not None:  # a stream of requests: each handled as it is complete
            self.pending += data
            split = self._split(self.pending)
            if split is None:
                return
            payloads, used = split
            del self.pending[:used]
            for payload in payloads:
                msg = self._parse(payload)
                if msg is None:
                    return
                self.inbox.put_nowait(msg)
            if end:
                if self.pending:
                    self.fail(STATUS["INTERNAL"], "the request stream ended inside a message")
                    return
                self.inbox.put_nowait(None)
            return
        if not end:  # one request message, read when the client has sent all of it
            self.pending += data
            return
        buf: bytes | bytearray = data
        if self.pending:
            self.pending += data
            buf = self.pending
        split = self._split(buf)
        if split is None:
            return
        payloads, used = split
        if len(payloads) != 1 or used != len(buf):
            self.fail(STATUS["INTERNAL"], f"{self.method.name} takes exactly one request "
                      f"message, the client sent {len(payloads)}"
                      f"{' and a truncated one' if used != len(buf) else ''}")
            return
        if self.method.name == "ModelInfer":
            self._infer(payloads[0])
            return
        msg = self._parse(payloads[0])
        if msg is not None:
            self.task = asyncio.get_running_loop().create_task(self._run(msg))

    def _split(self, buf: bytes | bytearray) -> tuple[list[bytes], int] | None:
        """The complete messages at the head of ``buf`` (their serialized bytes, inflated)
        and the bytes they took; None when one cannot be read (the call has failed)."""
        assert self.method is not None
        out = []
        pos = 0
        while len(buf) - pos >= 5:
            size = int.from_bytes(buf[pos + 1 : pos + 5], "big")
            if len(buf) - pos - 5 < size:
                break
            payload = bytes(buf[pos + 5 : pos + 5 + size])
            if buf[pos]:
                inflate = INFLATE.get(self.encoding or "")
                if inflate is None:
                    self.fail(STATUS["INTERNAL"], "a compressed message without grpc-encoding")
                    return None
                try:
                    payload = inflate(payload)
                except zlib.error as exc:
                    self.fail(STATUS["INTERNAL"], f"cannot decompress the message: {exc}")
                    return None
            pos += 5 + size
            out.append(payload)
        return out, pos

    def _parse(self, payload: bytes) -> Any:
        """The request message in ``payload``; None when it cannot be parsed (the call has
        failed)."""
        assert self.method is not None
        try:
            return self.method.request.FromString(payload)
        except DecodeError as exc:
            self.fail(STATUS["INVALID_ARGUMENT"], f"cannot parse the "
                      f"{self.method.request.DESCRIPTOR.name} message: {exc}")
            return None

    # -- running -----------------------------------------------------------------------------
    def _infer(self, payload: bytes) -> None:
        """ModelInfer without a task: the response callback answers. A request whose head was
        seen before is decoded from its kept layout (``codec.decode_cached``)."""
        server = self.router.server
        try:
            decoded = codec.decode_cached(server, payload)
            if decoded is None:
                msg = self._parse(payload)
                if msg is None:
                    return
                decoded = codec.decode_request(server, msg)
                codec.remember(payload, msg, decoded)
            request = decoded.request
            loaded = server.unary_model(request.model_name, request.model_version)
        except TritonError as exc:
            self.fail_with(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug answers INTERNAL, the server goes on
            self.fail_with(_unexpected(exc))
            return
        def answer(response: InferenceResponse) -> None:
            if self.done:
                return
            if response.error is not None:
                self.fail_with(response.error)
                return
            try:
                out = codec.encode_unary(server, decoded, response, request.model_version)
            except TritonError as exc:
                self.fail_with(exc)
                return
            except Exception as exc:  # noqa: BLE001
                self.fail_with(_unexpected(exc))
                return
            self.reply(out)

        self.request = request
        try:
            loaded.submit(request, final_on_loop(self.router.loop, self.router.loop_thread,
                                                 answer))
        except TritonError as exc:
            self.fail_with(exc)

    async def _run(self, argument: Any) -> None:
        """The handler (given the request message, or the stream of them), then the answer:
        its response, OK after a streaming call, or the error's status."""
        assert self.method is not None
        try:
            result = await self.method.handler(argument, self)
        except TritonError as exc:
            self.fail_with(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self.fail_with(_unexpected(exc))
        else:
            if self.method.kind == "unary":
                self.reply(result)
            else:
                self._close(STATUS["OK"], "")

    async def _requests(self) -> AsyncIterator[Any]:
        assert self.inbox is not None
        while (msg := await self.inbox.get()) is not None:
            yield msg

    # -- the context the handlers use --------------------------------------------------------
    async def write(self, msg: Any) -> None:
        """One response message of a streaming call; waits while the client is not reading
        (its flow-control window is spent)."""
        if self.done:
            raise asyncio.CancelledError
        if not self.headers_sent:
            self.headers_sent = True
            self.stream.send_headers(RESPONSE_HEADERS)
        self.stream.send_data(_message(msg.SerializeToString()))
        await self.stream.drained()

    # -- answers -----------------------------------------------------------------------------
    def reply(self, msg: Any) -> None:
        """The one response of a unary call (a message, or its serialized bytes), then OK."""
        if self.done:
            return
        self._finish()
        payload = _message(msg if type(msg) is bytes else msg.SerializeToString())
        if self.headers_sent:
            self.stream.send_data(payload)
            self.stream.send_headers(OK_TRAILERS, end=True)
        else:
            self.headers_sent = True
            self.stream.send_whole(RESPONSE_HEADERS, payload, OK_TRAILERS)

    def fail_with(self, error: TritonError) -> None:
        self.fail(STATUS[error.grpc_status], error.message)

    def fail(self, code: int, message: str) -> None:
        if self.done:
            return
        self._close(code, message)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def _close(self, code: int, message: str) -> None:
        if self.done:
            return
        self._finish()
        block = status_block(code, message)
        if not self.headers_sent:  # trailers-only
            block = RESPONSE_HEADERS + block
        self.stream.send_headers(block, end=True)

    def _finish(self) -> None:
        self.done = True
        self.stream.call = None  # no stream <-> call cycle left behind
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expired(self) -> None:
        self.deadline = None
        if not self.done:
            if self.request is not None:
                self.request.cancelled.set()
            self.fail(STATUS["DEADLINE_EXCEEDED"], "Deadline Exceeded")

    def cancel(self) -> None:
        """The client reset the stream or the connection went away."""
        if self.done:
            return
        self._finish()
        if self.request is not None:
            self.request.cancelled.set()
        if self.task is not None:
            self.task.cancel()


