"""The built-in HTTP/REST frontend (Triton's KServe v2 HTTP API and extensions).

One concept per module: ``connection`` (HTTP/1.1 protocol), ``routes`` (paths), ``app``
(dispatch and restricted APIs), ``endpoints`` (handlers), ``infer_codec`` (tensors in JSON and
binary form), ``content_encoding`` (gzip/deflate), ``responses`` (status lines and headers), ``worker`` and ``worker_link`` (``--http-workers``:
the two ends of a worker process that owns clients' sockets and relays their requests).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tritoncore.cli import non_negative_int
from tritoncore.frontend import Frontend
from tritoncore.frontends.http.frontend import HttpFrontend
from tritoncore.hookspecs import hookimpl


@hookimpl
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    register(HttpFrontend)


@hookimpl
def tritoncore_add_cli_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http-workers", dest="http_workers", type=non_negative_int, default=0, metavar="N",
        help="tritoncore extension: N worker processes accept and parse HTTP connections and "
             "relay requests to the server process (0, the default: it serves them itself); "
             "for many concurrent clients on a host with spare cores")


__all__ = ["HttpFrontend"]
