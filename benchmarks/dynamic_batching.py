"""Dynamic batching: throughput of a batched identity model with and without the batcher.

Two models on one ``tritoncore serve`` process, identical except for ``dynamic_batching``:
the ``identity`` backend (examples/identity_backend) with ``max_batch_size: 8``, one
instance, FP32[16] in and out, and ``execute_delay_ms`` (default 2 ms) slept once per
*execution*, standing for a per-batch cost such as a GPU kernel launch. Without the batcher
every request pays it; with it, requests that queue while the instance is busy share one.

perf_analyzer (HTTP, batch size 1 per request) drives each model at each concurrency; the
batch-size histogram is the difference of the model's ``batch_stats`` (executions per batch
size) from ``/v2/models/M/stats`` before and after that run.

Usage:  .venv/bin/python benchmarks/dynamic_batching.py [--concurrency 1 4 16 64]
        [--delay-ms 2] [--queue-delay-us 0] [--interval-ms 2000]
Needs perf_analyzer (../shared/peer-triton/install.sh). On a small VM perf_analyzer and
the server share the CPUs: the absolute figures are the machine's, the ratio is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from pathlib import Path

from peer import PERF_ANALYZER, free_port, wait_ready
from peer import perf_http as perf

CONFIG = """
name: "{name}"
backend: "identity"
max_batch_size: 8
input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] }} ]
output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 16 ] }} ]
instance_group [ {{ count: 1, kind: KIND_CPU }} ]
parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}
{batcher}
"""
MODELS = ("identity_plain", "identity_dynamic")


def write_repo(path: Path, delay_ms: float, queue_delay_us: int) -> Path:
    batchers = {"identity_plain": "",
                "identity_dynamic": "dynamic_batching { max_queue_delay_microseconds: "
                                    f"{queue_delay_us} }}"}
    for name in MODELS:
        (path / name / "1").mkdir(parents=True)
        (path / name / "config.pbtxt").write_text(textwrap.dedent(
            CONFIG.format(name=name, delay_ms=delay_ms, batcher=batchers[name])))
    return path


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def batch_counts(port: int, model: str) -> tuple[dict[int, int], int, int]:
    """({batch size: executions}, inference_count, execution_count) so far."""
    s = get_json(port, f"/v2/models/{model}/stats")["model_stats"][0]
    return ({b["batch_size"]: b["compute_infer"]["count"] for b in s["batch_stats"]},
            s["inference_count"], s["execution_count"])


def histogram(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {size: n - before.get(size, 0) for size, n in sorted(after.items())
            if n - before.get(size, 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--delay-ms", type=float, default=2.0, help="execute_delay_ms per batch")
    ap.add_argument("--queue-delay-us", type=int, default=0,
                    help="max_queue_delay_microseconds of the batched model")
    ap.add_argument("--interval-ms", type=int, default=2000)
    args = ap.parse_args()
    if not PERF_ANALYZER.exists():
        print(f"perf_analyzer not found at {PERF_ANALYZER}; run ../shared/peer-triton/install.sh")
        return 2
    work = Path(tempfile.mkdtemp(prefix="dynamic_batching_"))
    port = free_port()
    with open(work / "tritoncore.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tritoncore", "serve", "--model-repository",
             str(write_repo(work / "models", args.delay_ms, args.queue_delay_us)),
             "--http-address", "127.0.0.1", "--http-port", str(port),
             "--grpc-port", str(free_port()), "--metrics-port", str(free_port())],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port)
        rows = []
        for c in args.concurrency:
            row = {}
            for model in MODELS:
                before, inf0, exe0 = batch_counts(port, model)
                thr, p99 = perf(model, port, c, args.interval_ms)
                after, inf1, exe1 = batch_counts(port, model)
                row[model] = (thr, p99, histogram(before, after), (inf1 - inf0) / (exe1 - exe0))
            rows.append((c, row))
        print(f"\nidentity backend, execute_delay_ms {args.delay_ms:g} per execution, "
              f"max_batch_size 8, 1 instance; perf_analyzer HTTP, batch 1 per request; "
              f"max_queue_delay_microseconds {args.queue_delay_us}; {os.cpu_count()} CPUs\n")
        print("| concurrency | no batcher: infer/s (p99 µs) | dynamic_batching: infer/s "
              "(p99 µs) | speed-up | requests per execution | executions by batch size "
              "(dynamic) |")
        print("|---|---|---|---|---|---|")
        for c, row in rows:
            p_thr, p_p99, _, _ = row["identity_plain"]
            d_thr, d_p99, d_hist, d_mean = row["identity_dynamic"]
            hist = ", ".join(f"{size}: {n}" for size, n in d_hist.items())
            print(f"| {c} | {p_thr:.0f} ({p_p99}) | {d_thr:.0f} ({d_p99}) | "
                  f"{d_thr / p_thr:.2f}x | {d_mean:.2f} | {hist} |")
        plain_sizes = {size for _, row in rows for size in row["identity_plain"][2]}
        print(f"\n(no batcher: every execution had batch size {sorted(plain_sizes)})")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
