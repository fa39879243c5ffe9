"""``Content-Encoding`` / ``Accept-Encoding``: gzip and deflate bodies, both directions."""

from __future__ import annotations

import zlib

from tritoncore.errors import invalid_arg, unsupported


def decode_body(body: bytes, encoding: bytes | None, limit: int) -> bytes:
    """The decompressed body (at most ``limit`` bytes); INVALID_ARG when it is corrupt."""
    if not encoding or encoding in (b"identity", b"Identity"):
        return body
    name = encoding.strip().lower()
    if name in (b"gzip", b"x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == b"deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped; raw deflate is tried below
    else:
        raise unsupported(f"Content-Encoding '{encoding.decode('latin-1')}' is not supported; "
                          "use gzip or deflate")
    for bits in (wbits, -zlib.MAX_WBITS) if name == b"deflate" else (wbits,):
        inflater = zlib.decompressobj(bits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise invalid_arg(f"the decompressed request body exceeds {limit} bytes "
                              "(--http-max-input-size)")
        if not inflater.eof:
            raise invalid_arg(f"the {name.decode()} request body is truncated")
        return out
    raise invalid_arg(f"the request body is not valid {name.decode()} data")


def choose(accept: bytes | None) -> bytes | None:
    """The response encoding to use for an ``Accept-Encoding`` value (None: identity)."""
    if not accept:
        return None
    tokens = {t.split(b";")[0].strip().lower() for t in accept.split(b",")}
    if b"gzip" in tokens:
        return b"gzip"
    if b"deflate" in tokens:
        return b"deflate"
    return None


def encode(data: bytes, encoding: bytes) -> bytes:
    if encoding == b"gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    return zlib.compress(data, 6)
