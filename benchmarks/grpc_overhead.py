"""gRPC per-request overhead: perf_analyzer against tritoncore and the real Triton 2.51 in ONE run.

Servers are measured alternately (round-robin per concurrency) with the same client:

- ``triton add_sub``      the real Triton 2.51, Python-backend ``add_sub`` (2 x FP32[4] in/out)
- ``tritoncore add_sub``  tritoncore serving the same ``model.py`` with its Python backend
- ``tritoncore identity`` tritoncore, in-process ``identity`` backend with the same tensors:
                          gRPC frontend + scheduler cost alone

each over plain gRPC (raw_input_contents) and with ``--shared-memory system``.

    .venv/bin/python benchmarks/grpc_overhead.py [--concurrency 1 2 4] [--rounds 2]

Needs ``../shared/peer-triton/install.sh`` (Triton 2.51 + perf_analyzer); without Triton it
measures tritoncore only. Client and servers share the machine's CPUs: quote the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peer import PERF_ANALYZER, START_SH, free_port
from peer import comparison_repo as repository

LINE = re.compile(r"Concurrency: (\d+), throughput: ([0-9.]+) infer/sec, latency (\d+) usec")


def wait_ready(url: str, timeout: float = 120) -> None:
    import tritonclient.grpc as grpcclient

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with grpcclient.InferenceServerClient(url) as client:
                if client.is_server_ready():
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gRPC server {url} not ready after {timeout}s")


def perf(model: str, url: str, concurrency: int, interval_ms: int, shm: bool) -> tuple[float, int]:
    """(infer/s, p99 µs) of one perf_analyzer run."""
    cmd = [str(PERF_ANALYZER), "-m", model, "-i", "grpc", "-u", url,
           "--concurrency-range", str(concurrency), "--measurement-interval", str(interval_ms),
           "--percentile", "99", "-s", "100", "-r", "6"]
    if shm:
        cmd += ["--shared-memory", "system"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    match = LINE.search(text)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"perf_analyzer failed on {model}@{url}:\n{text[-1500:]}")
    return float(match.group(2)), int(match.group(3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per point")
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--no-shm", action="store_true", help="skip the --shared-memory runs")
    ap.add_argument("--skip-python", action="store_true",
                    help="leave out tritoncore's Python-backend add_sub")
    args = ap.parse_args()
    if not PERF_ANALYZER.exists():
        print(f"perf_analyzer not found at {PERF_ANALYZER}; run ../shared/peer-triton/install.sh")
        return 2
    work = Path(tempfile.mkdtemp(prefix="grpc_overhead_"))
    server: subprocess.Popen[bytes] | None = None
    triton_http = None
    try:
        tc_url = f"127.0.0.1:{free_port()}"
        server = subprocess.Popen(
            [sys.executable, "-m", "tritoncore", "serve", "--model-repository",
             str(repository(work / "tc", True)), "--allow-client-shm=true",
             "--grpc-address", "127.0.0.1", "--grpc-port", tc_url.split(":")[1],
             "--http-address", "127.0.0.1", "--http-port", str(free_port()),
             "--allow-metrics=false"],
            stdout=open(work / "tritoncore.log", "wb"), stderr=subprocess.STDOUT)
        wait_ready(tc_url)
        targets = [("tritoncore identity", "identity", tc_url)]
        if not args.skip_python:
            targets.append(("tritoncore add_sub", "add_sub", tc_url))
        if START_SH.exists():
            triton_http = free_port()
            triton_url = f"127.0.0.1:{free_port()}"
            subprocess.run(["bash", str(START_SH), "start", str(repository(work / "triton", False)),
                            str(triton_http), triton_url.split(":")[1], str(free_port())],
                           check=True, capture_output=True, timeout=180)
            wait_ready(triton_url)
            targets.insert(0, ("triton add_sub", "add_sub", triton_url))
        modes = [False] if args.no_shm else [False, True]
        results: dict[tuple[str, bool, int], list[tuple[float, int]]] = {}
        for shm in modes:
            for c in args.concurrency:
                for _ in range(args.rounds):
                    for label, model, url in targets:
                        results.setdefault((label, shm, c), []).append(
                            perf(model, url, c, args.interval_ms, shm))
        print(f"\nperf_analyzer 2.51 over gRPC, {os.cpu_count()} CPUs, mean of {args.rounds} "
              "alternating rounds: infer/s (p99 µs), ratio to Triton\n")
        print("| server / model | tensors | " + " | ".join(f"c={c}" for c in args.concurrency)
              + " |")
        print("|---|---|" + "---|" * len(args.concurrency))
        for shm in modes:
            for label, _, _ in targets:
                cells = []
                for c in args.concurrency:
                    runs = results[(label, shm, c)]
                    rate = sum(r[0] for r in runs) / len(runs)
                    p99 = sum(r[1] for r in runs) // len(runs)
                    cell = f"{rate:.0f}/s ({p99} µs)"
                    base = results.get(("triton add_sub", shm, c))
                    if base and label != "triton add_sub":
                        cell += f" **{rate / (sum(r[0] for r in base) / len(base)):.2f}×**"
                    cells.append(cell)
                kind = "system shm" if shm else "raw contents"
                print(f"| {label} | {kind} | " + " | ".join(cells) + " |")
    finally:
        if triton_http is not None:
            subprocess.run(["bash", str(START_SH), "stop", str(triton_http)],
                           capture_output=True, timeout=120)
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
