"""The built-in HTTP/REST frontend (Triton's KServe v2 HTTP API and extensions).

One concept per module: ``connection`` (HTTP/1.1 protocol), ``routes`` (paths), ``app``
(dispatch and restricted APIs), ``endpoints`` (handlers), ``infer_codec`` (tensors in JSON and
binary form), ``content_encoding`` (gzip/deflate), ``responses`` (status lines and headers).
"""

from __future__ import annotations

from collections.abc import Callable

from tritoncore.frontend import Frontend
from tritoncore.frontends.http.frontend import HttpFrontend
from tritoncore.hookspecs import hookimpl


@hookimpl
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    register(HttpFrontend)


__all__ = ["HttpFrontend"]
