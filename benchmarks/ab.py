"""A/B: a git revision of tritoncore against the working tree, with the real Triton 2.51 in
the same rotation, over HTTP with perf_analyzer (Python-backend ``add_sub``, or ``cpu_mlp``:
torch_mlp's tensors, batching and per-request Python without the GPU).

The revision is checked out into a temporary git worktree; both trees serve the same
comparison repository side by side, and every round measures Triton, A and B in turn
(alternating the order), so the machine's drift falls on all three alike. Prints, per
concurrency, the mean infer/s and p99 of each, the ratios to Triton and B/A, and A's and
B's CPU per request (server and stubs; steadier than throughput on a shared VM).

    .venv/bin/python benchmarks/ab.py --base HEAD --rounds 3 --concurrency 1 2 4
    .venv/bin/python benchmarks/ab.py --base HEAD --b-args="--busy-poll-microseconds 0"
    .venv/bin/python benchmarks/ab.py --base HEAD --model cpu_mlp --concurrency 32

``--a-args`` / ``--b-args`` (one string, split like a shell line; write them with ``=``) go
to ``tritoncore serve`` of A / B, so one tree can be compared with itself under two
settings (``--base HEAD`` without changes); ``--a-python`` / ``--b-python`` run A / B on
another interpreter (of an environment where tritoncore is installed). Needs ``../shared/peer-triton/install.sh``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from peer import ROOT, comparison_repo, perf_http, start_triton, start_tritoncore, stop_triton
from proc_cpu import successes, tree_cpu

MODELS = ("add_sub", "cpu_mlp")


def repository(path: Path, model: str) -> Path:
    """A repository holding ``model`` alone."""
    if model == "add_sub":
        return comparison_repo(path, False)
    shutil.copytree(ROOT / "benchmarks" / "models" / model, path / model)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="the git revision served as A")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--interval-ms", type=int, default=2000)
    ap.add_argument("--model", choices=MODELS, default="add_sub")
    ap.add_argument("--a-args", default="", help="extra `tritoncore serve` arguments for A")
    ap.add_argument("--b-args", default="", help="extra `tritoncore serve` arguments for B")
    ap.add_argument("--a-python", default=sys.executable,
                    help="the interpreter of A's server and stubs (an environment with "
                         "tritoncore installed; default: this one)")
    ap.add_argument("--b-python", default=sys.executable, help="the same for B")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tritoncore-ab-"))
    base = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(base),
                    opts.base], check=True, capture_output=True)
    servers: list[subprocess.Popen[bytes]] = []
    triton_port = None
    try:
        repo = repository(work / "repo", opts.model)
        a, a_port = start_tritoncore(repo, shlex.split(opts.a_args), tree=base,
                                     python=opts.a_python)
        servers.append(a)
        b, b_port = start_tritoncore(repo, shlex.split(opts.b_args), tree=ROOT,
                                     python=opts.b_python)
        servers.append(b)
        triton_port, _ = start_triton(repository(work / "t", opts.model))
        ports = {"triton": triton_port, "A": a_port, "B": b_port}
        pids = {"A": a.pid, "B": b.pid}
        for c in opts.concurrency:
            runs: dict[str, list[tuple[float, int]]] = {name: [] for name in ports}
            cpu = dict.fromkeys(pids, 0.0)
            count = dict.fromkeys(pids, 0)
            for r in range(opts.rounds):
                order = list(ports) if r % 2 == 0 else list(reversed(ports))
                for name in order:
                    url = f"127.0.0.1:{ports[name]}"
                    if name in pids:
                        cpu[name] -= tree_cpu(pids[name])
                        count[name] -= successes(url, opts.model)
                    runs[name].append(perf_http(opts.model, ports[name], c, opts.interval_ms))
                    if name in pids:
                        cpu[name] += tree_cpu(pids[name])
                        count[name] += successes(url, opts.model)
            mean = {n: statistics.mean(t for t, _ in xs) for n, xs in runs.items()}
            p99 = {n: statistics.mean(p for _, p in xs) for n, xs in runs.items()}
            line = f"c={c}: triton {mean['triton']:.0f}/s (p99 {p99['triton']:.0f} µs)"
            for name in ("A", "B"):
                line += (f" | {name} {mean[name]:.0f}/s {mean[name] / mean['triton']:.2f}x "
                         f"(p99 {p99[name]:.0f} µs; CPU {cpu[name] * 1e6 / count[name]:.0f} µs "
                         f"a request; rounds {[round(t) for t, _ in runs[name]]})")
            print(f"{line} | B/A {mean['B'] / mean['A']:.3f}", flush=True)
    finally:
        if triton_port is not None:
            stop_triton(triton_port)
        for proc in servers:
            proc.terminate()
            proc.wait()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
