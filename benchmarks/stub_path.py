"""The stub's own cost per request, in-process and warm: add_sub's ``model.py`` run through the
stub's whole path (an EXECUTE decoded, dispatched, its inputs read from the input arena, the
model run, the outputs written to the output arena, EXECUTED encoded) against the same model
run bare, as ``floor.py``'s child does (inputs wrapped, execute, output bytes joined).

    .venv/bin/python benchmarks/stub_path.py [--iterations 50000] [--rounds 3]

No server: the difference is the stub's protocol and bookkeeping alone ("stub loop" adds the
stub's socket, a send and a receive of a socket pair, and its main loop's reading). Real runs
cost about three times these warm figures (cold caches after every wake-up), so a microsecond
here is roughly three of the stub's CPU per request under perf_analyzer.
"""

from __future__ import annotations

import argparse
import json
import os
import timeit
from pathlib import Path

import numpy as np
from tritoncore import dtypes
from tritoncore_python.stub import channel, pb_utils
from tritoncore_python.stub.arena import Allocator, Arena
from tritoncore_python.stub.runner import Runtime, Stub
from tritoncore_python.stub.wire import EXECUTE

ADD_SUB = Path(__file__).resolve().parents[1] / "examples" / "model_repository" / "add_sub"
ARENA_BYTES = 1 << 20
CONFIG = {"name": "add_sub", "input": [{"name": "INPUT0"}, {"name": "INPUT1"}],
          "output": [{"name": "OUTPUT0"}, {"name": "OUTPUT1"}]}
INPUTS = [("INPUT0", "FP32", (4,), 0, 16, None), ("INPUT1", "FP32", (4,), 64, 16, None)]


def _arena() -> Arena:
    fd = os.memfd_create("stub_path")
    os.ftruncate(fd, ARENA_BYTES)
    return Arena(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import socket
    ours, theirs = socket.socketpair()
    rt = Runtime(channel.BlockingChannel(ours), _arena(), Allocator(_arena(), ARENA_BYTES))
    pb_utils._RUNTIME = rt
    stub = Stub(rt)
    stub.initialize({"model_path": str(ADD_SUB / "1" / "model.py"), "args": {
        "model_name": "add_sub", "model_version": "1", "model_repository": str(ADD_SUB),
        "model_config": json.dumps(CONFIG), "model_instance_kind": "CPU",
        "model_instance_name": "add_sub_0", "model_instance_device_id": "0"}})
    data = np.arange(8, dtype=np.float32).tobytes()
    assert rt.inputs.map is not None
    rt.inputs.map[0:16], rt.inputs.map[64:80] = data[:16], data[16:]
    wire = channel.encode((EXECUTE, 1, ARENA_BYTES,
                           [(1, "", INPUTS, [], 0, 0, 0, {})], []))
    decoder = channel.Decoder()

    def stub_path() -> bytes:
        rt.dispatch(decoder.feed(wire)[0])
        reply = stub.execute(rt.backlog.popleft())  # type: ignore[arg-type]
        rt.free([response[1] for response in reply[2]])  # what the server releases
        return channel.encode(reply)

    def stub_loop() -> None:
        """The same through the stub's socket and its main loop's receive and send."""
        theirs.sendall(wire)
        reply = stub.execute(rt.next_operation())  # type: ignore[arg-type]
        rt.channel.send(reply)
        theirs.recv(1 << 16)
        rt.free([response[1] for response in reply[2]])

    fp32 = dtypes.by_name("FP32")
    entry = (1, "", None, ["OUTPUT0", "OUTPUT1"], 0, 0, 0, {})
    model = stub.model

    def bare() -> bytes:
        inputs = [pb_utils.Tensor._wrap("INPUT0", np.frombuffer(data, np.float32, 4), fp32),
                  pb_utils.Tensor._wrap("INPUT1", np.frombuffer(data, np.float32, 4, 16), fp32)]
        request = pb_utils.InferenceRequest._received("add_sub", inputs, entry, entry[3])
        response = model.execute([request])[0]
        return b"".join(t.as_numpy().tobytes() for t in response.output_tensors())

    for name, fn in (("stub path", stub_path), ("stub loop", stub_loop), ("bare model", bare)):
        times = timeit.repeat(fn, number=args.iterations, repeat=args.rounds)
        print(f"{name}: {min(times) / args.iterations * 1e6:.2f} µs a request "
              f"(best of {args.rounds} x {args.iterations})")


if __name__ == "__main__":
    main()
