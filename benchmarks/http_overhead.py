"""HTTP per-request overhead: perf_analyzer against tritoncore and the real Triton 2.51, in ONE run.

What is compared (same client, same machine, servers measured alternately):

- ``triton add_sub``     the real Triton 2.51, Python-backend model ``add_sub``
                         (FP32[4] + FP32[4] -> OUTPUT0 = a + b, OUTPUT1 = a - b)
- ``tritoncore add_sub`` tritoncore serving the *same* ``model.py`` with its Python backend
- ``tritoncore identity`` tritoncore, in-process ``identity`` backend with the same I/O
                         (2 x FP32[4] in, 2 x FP32[4] out): the frontend + scheduler cost alone
- with ``--bls``: ``bls_add`` on both servers, a Python model that sends each request on to
                         add_sub through BLS (``benchmarks/models/bls_add``)

Usage:  .venv/bin/python benchmarks/http_overhead.py [--concurrency 1 2 4] [--rounds 2]
Needs ``../shared/peer-triton/install.sh`` (Triton 2.51 + perf_analyzer); without Triton it
measures tritoncore only. On a 2-core VM client and servers share the CPUs: quote ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from peer import PERF_ANALYZER, START_SH, start_triton, start_tritoncore, stop_triton
from peer import comparison_repo as write_repo
from peer import perf_http as perf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per point")
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--bls", action="store_true", help="also compare the bls_add model")
    args = ap.parse_args()
    if not PERF_ANALYZER.exists():
        print(f"perf_analyzer not found at {PERF_ANALYZER}; run ../shared/peer-triton/install.sh")
        return 2
    work = Path(tempfile.mkdtemp(prefix="http_overhead_"))
    procs: list[subprocess.Popen[bytes]] = []
    triton_port = None
    try:
        tc, tc_port = start_tritoncore(write_repo(work / "tc", True, args.bls),
                                       log=work / "tritoncore.log")
        procs.append(tc)
        targets = [("tritoncore identity", "identity", tc_port),
                   ("tritoncore add_sub", "add_sub", tc_port)]
        if args.bls:
            targets.append(("tritoncore bls_add", "bls_add", tc_port))
        if START_SH.exists() and shutil.which("bash"):
            triton_port, _ = start_triton(write_repo(work / "triton", False, args.bls))
            targets.insert(0, ("triton add_sub", "add_sub", triton_port))
            if args.bls:
                targets.insert(1, ("triton bls_add", "bls_add", triton_port))
        results: dict[tuple[str, int], list[tuple[float, int]]] = {}
        for c in args.concurrency:
            for _ in range(args.rounds):
                for label, model, port in targets:
                    results.setdefault((label, c), []).append(
                        perf(model, port, c, args.interval_ms))
        print(f"\nperf_analyzer 2.51, HTTP, {os.cpu_count()} CPUs, mean of "
              f"{args.rounds} alternating rounds; infer/s (p99 µs) and x Triton\n")
        header = "| server / model | " + " | ".join(f"c={c}" for c in args.concurrency) + " |"
        print(header)
        print("|" + "---|" * (len(args.concurrency) + 1))
        for label, model, _ in targets:
            baseline = f"triton {'add_sub' if model == 'identity' else model}"
            cells = []
            for c in args.concurrency:
                runs = results[(label, c)]
                thr = sum(r[0] for r in runs) / len(runs)
                p99 = sum(r[1] for r in runs) // len(runs)
                cell = f"{thr:.0f}/s ({p99} µs)"
                base = results.get((baseline, c))
                if base and label != baseline:
                    cell += f" **{thr / (sum(r[0] for r in base) / len(base)):.2f}x**"
                cells.append(cell)
            print(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        if triton_port is not None:
            stop_triton(triton_port)
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
