"""The floor: how fast can ANY Python server with a model process serve add_sub here?

A deliberately minimal server (not tritoncore) that does only what perf_analyzer's HTTP
add_sub run needs: uvloop + httptools, the request JSON header cached by its bytes, the two
FP32[4] inputs sent over a socketpair to one forked child that runs the *unmodified*
``add_sub/1/model.py`` through tritoncore's own ``pb_utils`` (or, with ``--raw-child``,
computes a + b, a - b itself), and the response header prebuilt. No scheduler, statistics
beyond a counter, cancellation, shared-memory arenas, errors or other endpoints. With
``--poll`` a second floor server runs beside the first, both sides of it polling as tritoncore's do by default (the server's event loop through
tritoncore's ``LoopPoller`` for 120 µs after it sends work out, the child for 400 µs after
it answered).

It measures the ceiling of the architecture (one server process + one model process) on
this machine against the real Triton 2.51 in the same run, so a speed target can be judged
against what is possible at all. Usage:

    .venv/bin/python benchmarks/floor.py [--concurrency 1 2 4] [--rounds 2] [--raw-child]
        [--poll]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peer import (ADD_SUB, PERF_ANALYZER, START_SH, free_port, start_triton, start_tritoncore,
                  stop_triton, wait_ready)
from peer import comparison_repo as write_repo
from peer import perf_http as perf

_MSG = struct.Struct("<32s")  # INPUT0 and INPUT1, FP32[4] each
SERVER_POLL_NS = 120_000  # tritoncore's --busy-poll-microseconds default
CHILD_POLL_NS = 400_000  # its stubs' stub-busy-poll-microseconds default
METADATA = (b'{"name":"add_sub","versions":["1"],"platform":"python","inputs":['
            b'{"name":"INPUT0","datatype":"FP32","shape":[4]},'
            b'{"name":"INPUT1","datatype":"FP32","shape":[4]}],"outputs":['
            b'{"name":"OUTPUT0","datatype":"FP32","shape":[4]},'
            b'{"name":"OUTPUT1","datatype":"FP32","shape":[4]}]}')
CONFIG = (b'{"name":"add_sub","backend":"python","max_batch_size":0,"input":['
          b'{"name":"INPUT0","data_type":"TYPE_FP32","dims":[4]},'
          b'{"name":"INPUT1","data_type":"TYPE_FP32","dims":[4]}],"output":['
          b'{"name":"OUTPUT0","data_type":"TYPE_FP32","dims":[4]},'
          b'{"name":"OUTPUT1","data_type":"TYPE_FP32","dims":[4]}],'
          b'"instance_group":[{"name":"add_sub_0","kind":"KIND_CPU","count":1}]}')
RESPONSE_JSON = (b'{"model_name":"add_sub","model_version":"1","outputs":['
                 b'{"name":"OUTPUT0","datatype":"FP32","shape":[4],'
                 b'"parameters":{"binary_data_size":16}},'
                 b'{"name":"OUTPUT1","datatype":"FP32","shape":[4],'
                 b'"parameters":{"binary_data_size":16}}]}')
RESPONSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
                 % (len(RESPONSE_JSON), len(RESPONSE_JSON) + 32)) + RESPONSE_JSON


def _receive(sock: socket.socket, poll_ns: int) -> bytes:
    """The next bytes from ``sock``, polling up to ``poll_ns`` before sleeping in recv."""
    deadline = time.perf_counter_ns() + poll_ns
    while poll_ns and time.perf_counter_ns() < deadline:
        try:
            return sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            os.sched_yield()
    return sock.recv(65536)


def child(sock: socket.socket, raw: bool, poll_ns: int) -> None:
    """The model process: 32 input bytes in, 32 output bytes out, one request at a time."""
    import numpy as np

    if raw:
        def run(data: bytes) -> bytes:
            a = np.frombuffer(data, np.float32, 4)
            b = np.frombuffer(data, np.float32, 4, 16)
            return (a + b).tobytes() + (a - b).tobytes()
    else:
        from tritoncore import dtypes
        from tritoncore_python.stub import pb_utils as pb
        sys.modules["triton_python_backend_utils"] = pb
        spec = importlib.util.spec_from_file_location("model", ADD_SUB / "1" / "model.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.TritonPythonModel()
        model.initialize({"model_config": CONFIG.decode()})
        fp32 = dtypes.by_name("FP32")
        requested = ["OUTPUT0", "OUTPUT1"]
        entry = (1, "", None, requested, 0, 0, 0, {})  # an EXECUTE request (stub/wire.py)

        def run(data: bytes) -> bytes:
            inputs = [pb.Tensor._wrap("INPUT0", np.frombuffer(data, np.float32, 4), fp32),
                      pb.Tensor._wrap("INPUT1", np.frombuffer(data, np.float32, 4, 16), fp32)]
            response = model.execute([pb.InferenceRequest._received("add_sub", inputs,
                                                                    entry, requested)])[0]
            return b"".join(t.as_numpy().tobytes() for t in response.output_tensors())

    buffer = b""
    while True:
        data = _receive(sock, poll_ns)
        if not data:
            os._exit(0)
        buffer += data
        out = []
        while len(buffer) >= 32:
            out.append(run(buffer[:32]))
            buffer = buffer[32:]
        sock.sendall(b"".join(out))


class Server:
    def __init__(self, to_child: socket.socket, poll: Any) -> None:
        self.child = to_child
        self.poll = poll  # the loop's LoopPoller (budget 0: off)
        self.waiting: collections.deque[Connection] = collections.deque()
        self.count = 0
        self.buffer = b""
        self.layouts: dict[bytes, int] = {}

    def readable(self) -> None:
        self.buffer += self.child.recv(65536)
        while len(self.buffer) >= 32:
            out, self.buffer = self.buffer[:32], self.buffer[32:]
            self.count += 1
            conn = self.waiting.popleft()
            if conn.transport is not None:
                conn.transport.write(RESPONSE_HEAD + out)
                self.poll.note()


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        import httptools
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        url = self.url
        if url.endswith(b"/infer"):
            body = b"".join(self.body)
            length = int(self.headers[b"inference-header-content-length"])
            header = body[:length]
            if header not in self.server.layouts:
                import orjson
                orjson.loads(header)  # parsed once, as tritoncore's layout cache does
                self.server.layouts[header] = length
            self.server.waiting.append(self)
            self.server.child.send(body[length:length + 32])
            self.server.poll.note()
            return
        if url.endswith(b"/stats"):
            n = self.server.count
            stat = b'{"count":%d,"ns":%d}' % (n, n * 1000)
            doc = (b'{"model_stats":[{"name":"add_sub","version":"1","inference_count":%d,'
                   b'"execution_count":%d,"inference_stats":{"success":%s,"fail":'
                   b'{"count":0,"ns":0},"queue":%s,"compute_input":%s,"compute_infer":%s,'
                   b'"compute_output":%s},"batch_stats":[]}]}'
                   % (n, n, stat, stat, stat, stat, stat))
        elif url.endswith(b"/config"):
            doc = CONFIG
        elif url.startswith(b"/v2/models/add_sub"):
            doc = METADATA
        else:
            doc = b'{"name":"floor","version":"0","extensions":[]}'
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(doc), doc))


def serve(port: int, raw: bool, poll: bool) -> None:
    parent, kid = socket.socketpair()
    if os.fork() == 0:
        parent.close()
        child(kid, raw, CHILD_POLL_NS if poll else 0)
    kid.close()
    import uvloop
    from tritoncore import loop_poll

    async def main() -> None:
        loop = asyncio.get_running_loop()
        poller = loop_poll.for_loop(loop)
        poller.budget_ns = SERVER_POLL_NS if poll else 0
        server = Server(parent, poller)
        parent.setblocking(False)
        loop.add_reader(parent.fileno(), server.readable)
        srv = await loop.create_server(lambda: Connection(server), "127.0.0.1", port)
        await srv.serve_forever()

    uvloop.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--interval-ms", type=int, default=2000)
    ap.add_argument("--raw-child", action="store_true", help="the child skips pb_utils")
    ap.add_argument("--poll", action="store_true",
                    help="also a floor whose server and child poll as tritoncore's do")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.raw_child, args.poll)
        return 0
    if not PERF_ANALYZER.exists() or not START_SH.exists():
        print("needs ../shared/peer-triton/install.sh (Triton 2.51 and perf_analyzer)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="floor_"))
    floors = [("floor", [])] + ([("floor, polling", ["--poll"])] if args.poll else [])
    floor_ports = []
    procs = []
    for _, extra in floors:
        floor_ports.append(free_port())
        procs.append(subprocess.Popen([sys.executable, __file__, "--serve", str(floor_ports[-1])]
                                      + (["--raw-child"] if args.raw_child else []) + extra,
                                      start_new_session=True))
    triton_port = None
    try:
        for port in floor_ports:
            wait_ready(port)
        tc, tc_port = start_tritoncore(write_repo(work / "tc", False))
        procs.append(tc)
        triton_port, _ = start_triton(write_repo(work / "triton", False))
        targets = [("triton", triton_port), ("tritoncore", tc_port),
                   *((label, port) for (label, _), port in zip(floors, floor_ports))]
        results: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
        for c in args.concurrency:
            for _ in range(args.rounds):
                for label, port in targets:
                    results[(label, c)].append(perf("add_sub", port, c, args.interval_ms)[0])
        child_kind = "raw numpy" if args.raw_child else "add_sub model.py through pb_utils"
        print(f"\nHTTP add_sub, {os.cpu_count()} CPUs, {args.rounds} alternating rounds, "
              f"floor's child: {child_kind}; infer/s and x Triton\n")
        print("| server | " + " | ".join(f"c={c}" for c in args.concurrency) + " |")
        print("|" + "---|" * (len(args.concurrency) + 1))
        for label, _ in targets:
            cells = []
            for c in args.concurrency:
                mean = sum(results[(label, c)]) / args.rounds
                base = sum(results[("triton", c)]) / args.rounds
                cells.append(f"{mean:.0f}/s" + ("" if label == "triton"
                                                 else f" **{mean / base:.2f}x**"))
            print(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        if triton_port is not None:
            stop_triton(triton_port)
        for p in procs[:len(floors)]:
            os.killpg(p.pid, signal.SIGTERM)  # a floor server and its child
        for p in procs[len(floors):]:
            p.terminate()
        for p in procs:
            p.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
