"""HTTP response bytes: status lines and header blocks built once, bodies as given."""

from __future__ import annotations

from http import HTTPStatus

import orjson

from tritoncore.errors import TritonError

JSON = b"application/json"
OCTET = b"application/octet-stream"
TEXT = b"text/plain"


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


_STATUS: dict[int, bytes] = {c.value: _status_line(c.value) for c in HTTPStatus}
_PREFIX: dict[tuple[int, bytes], bytes] = {}


def head(status: int, content_type: bytes, length: int, extra: bytes = b"") -> bytes:
    """Status line and headers for a body of ``length`` bytes; ``extra`` ends in CRLF."""
    key = (status, content_type)
    prefix = _PREFIX.get(key)
    if prefix is None:
        line = _STATUS.get(status) or _status_line(status)
        prefix = line + b"Content-Type: " + content_type + b"\r\nContent-Length: "
        _PREFIX[key] = prefix
    return b"%s%d\r\n%s\r\n" % (prefix, length, extra)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def error_status(exc: BaseException) -> tuple[int, bytes]:
    """The status and ``{"error": ...}`` body of an exception (TritonError or not)."""
    if isinstance(exc, TritonError):
        return exc.http_status, error_body(exc.message)
    return 500, error_body(f"internal error: {type(exc).__name__}: {exc}")


def plain(status: int, body: bytes = b"", content_type: bytes = JSON,
          close: bool = False) -> bytes:
    """A whole response with a small body."""
    return head(status, content_type, len(body), b"Connection: close\r\n" if close else b"") + body
