"""Per-request overhead of the in-process API (``Server.infer``, no network): wall time and
this process's CPU time per request, sequentially, for a trivial in-process model (identity)
and for Triton's add_sub through the Python backend (its stub's CPU is not included).

    .venv/bin/python benchmarks/inprocess_overhead.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from pathlib import Path

import numpy as np
from tritoncore.options import ServerOptions
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "model_repository"


def make(model: str) -> InferenceRequest:
    a = np.arange(4, dtype=np.float32)
    if model == "add_sub":
        return InferenceRequest(model, {"INPUT0": Tensor.from_numpy("INPUT0", a),
                                        "INPUT1": Tensor.from_numpy("INPUT1", a)})
    return InferenceRequest(model, {"INPUT0": Tensor.from_numpy("INPUT0", a.reshape(1, 4))})


async def measure(model: str, n: int) -> tuple[float, float]:
    server = Server(ServerOptions(model_repositories=[EXAMPLES], model_control_mode="explicit",
                                  load_models=[model], allow_http=False, allow_grpc=False,
                                  allow_metrics=False), gpus=0)
    await server.start()
    try:
        for _ in range(300):
            await server.infer(make(model))
        gc.collect()
        gc.freeze()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            await server.infer(make(model))
        return ((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found]
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    print("| model | wall µs/request | server-process CPU µs/request |")
    print("|---|---|---|")
    for model in ("identity_fp32", "add_sub"):
        wall, cpu = run(measure(model, args.requests))
        print(f"| {model} | {wall:.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    main()
