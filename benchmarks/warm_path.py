"""The server's own cost per request, in-process and warm: add_sub's config served by a real
``Server``, its instance replaced by one that answers at once (no stub, no sockets).

- **core path**: ``LoadedVersion.submit`` -> admission -> FIFO scheduler -> instance runner ->
  the instance -> response sender -> statistics -> the caller's callback (the request's
  construction is timed apart and taken out);
- **HTTP infer path**: perf_analyzer's binary add_sub request (the same bytes every time, so
  the connection's header block and the request layout are kept) fed to an ``HttpConnection``
  with a transport that keeps what is written: decode, the core path, encode, the write.

    .venv/bin/python benchmarks/warm_path.py [--iterations 20000] [--rounds 5]
    PYTHONPATH=OTHER_TREE/core:OTHER_TREE/plugins/python .venv/bin/python benchmarks/warm_path.py

Steadier than any run through perf_analyzer on a shared VM (noise ~2% against ~5-10%), so it
shows what a change of a microsecond buys; under perf_analyzer the same code costs about
three times as much (cold caches between processes and system calls).
"""

from __future__ import annotations

import argparse
import asyncio
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from tritoncore.frontends.http.app import HttpApp
from tritoncore.frontends.http.connection import HttpConnection
from tritoncore.options import ServerOptions
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.server import Server
from tritoncore.tensor import Tensor

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "model_repository"
OUTPUT = np.ones(4, np.float32).tobytes()


class Kept:
    """A transport that keeps the last thing written."""

    def __init__(self) -> None:
        self.last = b""

    def write(self, data: bytes) -> None:
        self.last = data

    def writelines(self, pieces: list[Any]) -> None:
        self.last = b"".join(bytes(p) for p in pieces)

    def get_extra_info(self, name: str) -> None:
        return None

    def close(self) -> None:
        pass


def answer_at_once(requests: list[InferenceRequest], done: Any) -> None:
    wire = getattr(Tensor, "from_wire", Tensor.from_buffer)  # older trees: for A/B runs
    done([InferenceResponse(outputs=[wire("OUTPUT0", "FP32", (4,), OUTPUT),
                                     wire("OUTPUT1", "FP32", (4,), OUTPUT)])
          for _ in requests], None)


def http_request() -> bytes:
    head = orjson.dumps({
        "inputs": [{"name": n, "datatype": "FP32", "shape": [4],
                    "parameters": {"binary_data_size": 16}} for n in ("INPUT0", "INPUT1")],
        "outputs": [{"name": n, "parameters": {"binary_data": True}}
                    for n in ("OUTPUT0", "OUTPUT1")]})
    body = head + np.arange(8, dtype=np.float32).tobytes()
    return (b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: localhost:8000\r\n"
            b"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %d\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(head), len(body))) + body


async def measure(iterations: int, rounds: int) -> None:
    server = Server(ServerOptions(model_repositories=[EXAMPLES], model_control_mode="explicit",
                                  load_models=["add_sub"], allow_http=False, allow_grpc=False,
                                  allow_metrics=False), gpus=0)
    await server.start()
    try:
        loaded = server.unary_model("add_sub")
        loaded.scheduler.runners[0]._submit = answer_at_once  # type: ignore[attr-defined]
        data = np.arange(4, dtype=np.float32)
        got: list[InferenceResponse] = []

        def new_request() -> InferenceRequest:
            return InferenceRequest("add_sub", {"INPUT0": Tensor.from_numpy("INPUT0", data),
                                                "INPUT1": Tensor.from_numpy("INPUT1", data)}, 1)

        def core() -> None:
            loaded.submit(new_request(), got.append)

        core()
        assert got[-1].error is None and got[-1].final, got[-1]
        construct = min(timeit.repeat(new_request, number=iterations, repeat=rounds))
        total = min(timeit.repeat(core, number=iterations, repeat=rounds))
        print(f"core path: {(total - construct) / iterations * 1e6:.2f} µs a request "
              f"(request construction, {construct / iterations * 1e6:.2f} µs, taken out)")

        app = HttpApp(server, asyncio.get_running_loop(), {}, 1 << 26)
        conn = HttpConnection(app)
        transport = Kept()
        conn.connection_made(transport)  # type: ignore[arg-type]
        request = http_request()

        def http() -> None:
            conn.data_received(request)

        for _ in range(3):  # the header block and the layout are kept from the second on
            http()
        assert transport.last.startswith(b"HTTP/1.1 200 OK"), transport.last[:200]
        assert transport.last.endswith(OUTPUT + OUTPUT)
        total = min(timeit.repeat(http, number=iterations, repeat=rounds))
        print(f"HTTP infer path: {total / iterations * 1e6:.2f} µs a request")
    finally:
        await server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(measure(args.iterations, args.rounds))


if __name__ == "__main__":
    main()
