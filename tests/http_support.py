"""Shared pieces of the HTTP tests: a model repository of identity models, raw requests."""

from __future__ import annotations

import http.client
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

IDENTITY = """
name: "{name}"
backend: "identity"
max_batch_size: {mbs}
input [ {{ name: "INPUT0", data_type: {dtype}, dims: [ {dims} ] }} ]
output [ {{ name: "OUTPUT0", data_type: {dtype}, dims: [ {dims} ]{label} }} ]
"""

PAIR = """
name: "pair"
backend: "identity"
max_batch_size: 0
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
        { name: "INPUT1", data_type: TYPE_INT32, dims: [ 4 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
         { name: "OUTPUT1", data_type: TYPE_INT32, dims: [ 4 ] } ]
"""

#: Server arguments for the two ways of serving HTTP: in the server process, and through
#: worker processes that relay requests to it (``--http-workers``); the HTTP suites run both.
WORKER_MODES = [pytest.param((), id="in-process"),
                pytest.param(("--http-workers", "2"), id="2-workers")]
LABELS = ["zero", "one", "two", "three", "four", "five"]


def identity(repo: Path, name: str, dtype: str, mbs: int = 0, dims: str = "-1",
             labels: bool = False) -> None:
    model = repo / name
    (model / "1").mkdir(parents=True, exist_ok=True)
    label = ', label_filename: "labels.txt"' if labels else ""
    (model / "config.pbtxt").write_text(textwrap.dedent(
        IDENTITY.format(name=name, dtype=dtype, mbs=mbs, dims=dims, label=label)))
    if labels:
        (model / "labels.txt").write_text("\n".join(LABELS) + "\n")


def make_repo(repo: Path) -> Path:
    """Identity models for every datatype the HTTP tests send, plus a two-input model."""
    repo.mkdir(parents=True, exist_ok=True)
    identity(repo, "fp32", "TYPE_FP32", mbs=8)
    identity(repo, "int32", "TYPE_INT32")
    identity(repo, "int64", "TYPE_INT64")
    identity(repo, "uint8", "TYPE_UINT8")
    identity(repo, "bytes", "TYPE_STRING")
    identity(repo, "bool", "TYPE_BOOL")
    identity(repo, "fp16", "TYPE_FP16")
    identity(repo, "bf16", "TYPE_BF16")
    identity(repo, "fp64", "TYPE_FP64")
    identity(repo, "fixed4", "TYPE_FP32", dims="4")
    identity(repo, "classes", "TYPE_FP32", mbs=4, labels=True)
    (repo / "pair" / "1").mkdir(parents=True, exist_ok=True)
    (repo / "pair" / "config.pbtxt").write_text(textwrap.dedent(PAIR))
    return repo


class Raw:
    """Raw HTTP requests to a server (for what tritonclient cannot send)."""

    def __init__(self, url: str) -> None:
        host, port = url.split(":")
        self.host, self.port = host, int(port)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        payload = None if body is None else (body if isinstance(body, (bytes, str))
                                             else json.dumps(body))
        status, _, data = self.request(method, path, payload, headers)
        return status, (json.loads(data) if data else None)
