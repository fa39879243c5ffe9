"""gRPC per-request overhead: perf_analyzer against tritoncore and the real Triton 2.51 in ONE run.

Servers are measured alternately (round-robin per concurrency) with the same client:

- ``triton add_sub``      the real Triton 2.51, Python-backend ``add_sub`` (2 x FP32[4] in/out)
- ``tritoncore add_sub``  tritoncore serving the same ``model.py`` with its Python backend
- ``tritoncore identity`` tritoncore, in-process ``identity`` backend with the same tensors:
                          gRPC frontend + scheduler cost alone

each over plain gRPC (raw_input_contents) and with ``--shared-memory system``. Besides
infer/s, each point reports the server's CPU time per request (utime + stime of the server
process and its children, e.g. model stubs, over the run, divided by the model's successful
inferences in its statistics): throughput on a shared 2-CPU VM is noisy, CPU per request is not.

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

from peer import PEER, PERF_ANALYZER, START_SH, free_port, start_triton, stop_triton
from peer import comparison_repo as repository
from proc_cpu import tree_cpu

LINE = re.compile(r"Concurrency: (\d+), throughput: ([0-9.]+) infer/sec, latency (\d+) usec")


def wait_ready(url: str, timeout: float = 120) -> None:
    import tritonclient.grpc as grpcclient

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with grpcclient.InferenceServerClient(url) as client:
                if client.is_server_ready():
                    return
        except Exception:  # noqa: BLE001, S110 - not up yet
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gRPC server {url} not ready after {timeout}s")


def successes(url: str, model: str) -> int:
    """The model's successful inference count from the server's statistics."""
    import tritonclient.grpc as grpcclient

    with grpcclient.InferenceServerClient(url) as client:
        stats = client.get_inference_statistics(model)
    return sum(s.inference_stats.success.count for s in stats.model_stats)


def perf(model: str, url: str, pid: int, concurrency: int, interval_ms: int,
         shm: bool) -> tuple[float, int, float]:
    """(infer/s, p99 µs, server CPU µs per request) of one perf_analyzer run."""
    cmd = [str(PERF_ANALYZER), "-m", model, "-i", "grpc", "-u", url,
           "--concurrency-range", str(concurrency), "--measurement-interval", str(interval_ms),
           "--percentile", "99", "-s", "10000", "-r", "3"]  # 3 fixed windows, as ab.py: p99
    # on the shared VM can move by more than 100% between windows, and then no run "stabilizes"
    if shm:
        cmd += ["--shared-memory", "system"]
    count, cpu = successes(url, model), tree_cpu(pid)
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    cpu, count = tree_cpu(pid) - cpu, successes(url, model) - count
    text = out.stdout + out.stderr
    match = LINE.search(text)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"perf_analyzer failed on {model}@{url}:\n{text[-1500:]}")
    return float(match.group(2)), int(match.group(3)), cpu * 1e6 / max(count, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per point")
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--no-shm", action="store_true", help="skip the --shared-memory runs")
    ap.add_argument("--skip-python", action="store_true",
                    help="leave out tritoncore's Python-backend add_sub")
    ap.add_argument("--transports", nargs="+", default=["native"], choices=["native", "grpcio"],
                    help="tritoncore's gRPC transports to measure (one server each)")
    args = ap.parse_args()
    if not PERF_ANALYZER.exists():
        print(f"perf_analyzer not found at {PERF_ANALYZER}; run ../shared/peer-triton/install.sh")
        return 2
    work = Path(tempfile.mkdtemp(prefix="grpc_overhead_"))
    servers: list[subprocess.Popen[bytes]] = []
    triton_http = None
    try:
        targets = []
        repo = repository(work / "tc", True)
        for transport in args.transports:
            tc_url = f"127.0.0.1:{free_port()}"
            server = subprocess.Popen(
                [sys.executable, "-m", "tritoncore", "serve", "--model-repository", str(repo),
                 "--allow-client-shm=true", f"--grpc-transport={transport}",
                 "--grpc-address", "127.0.0.1", "--grpc-port", tc_url.split(":")[1],
                 "--http-address", "127.0.0.1", "--http-port", str(free_port()),
                 "--allow-metrics=false"],
                stdout=open(work / f"tritoncore-{transport}.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT)
            servers.append(server)
            wait_ready(tc_url)
            suffix = "" if args.transports == ["native"] else f" [{transport}]"
            targets.append((f"tritoncore identity{suffix}", "identity", tc_url, server.pid))
            if not args.skip_python:
                targets.append((f"tritoncore add_sub{suffix}", "add_sub", tc_url, server.pid))
        if START_SH.exists():
            triton_http, triton_grpc = start_triton(repository(work / "triton", False))
            triton_url = f"127.0.0.1:{triton_grpc}"
            wait_ready(triton_url)
            pid = int((PEER / "run" / f"triton_{triton_http}.pid").read_text())
            targets.insert(0, ("triton add_sub", "add_sub", triton_url, pid))
        modes = [False] if args.no_shm else [False, True]
        results: dict[tuple[str, bool, int], list[tuple[float, int, float]]] = {}
        for shm in modes:
            for c in args.concurrency:
                for _ in range(args.rounds):
                    for label, model, url, pid in targets:
                        results.setdefault((label, shm, c), []).append(
                            perf(model, url, pid, c, args.interval_ms, shm))
        print(f"\nperf_analyzer 2.51 over gRPC, {os.cpu_count()} CPUs, mean of {args.rounds} "
              "alternating rounds: infer/s (p99 µs), ratio to Triton, server CPU µs/request\n")
        print("| server / model | tensors | " + " | ".join(f"c={c}" for c in args.concurrency)
              + " |")
        print("|---|---|" + "---|" * len(args.concurrency))
        for shm in modes:
            for label, *_ in targets:
                cells = []
                for c in args.concurrency:
                    runs = results[(label, shm, c)]
                    rate = sum(r[0] for r in runs) / len(runs)
                    p99 = sum(r[1] for r in runs) // len(runs)
                    cpu = sum(r[2] for r in runs) / len(runs)
                    cell = f"{rate:.0f}/s ({p99} µs, {cpu:.0f} µs CPU)"
                    base = results.get(("triton add_sub", shm, c))
                    if base and label != "triton add_sub":
                        cell += f" **{rate / (sum(r[0] for r in base) / len(base)):.2f}×**"
                    cells.append(cell)
                kind = "system shm" if shm else "raw contents"
                print(f"| {label} | {kind} | " + " | ".join(cells) + " |")
    finally:
        if triton_http is not None:
            stop_triton(triton_http)
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
