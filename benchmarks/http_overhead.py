"""HTTP per-request overhead: perf_analyzer against tritoncore and the real Triton 2.51, in ONE run.

What is compared (same client, same machine, servers measured alternately):

- ``triton add_sub``     the real Triton 2.51, Python-backend model ``add_sub``
                         (FP32[4] + FP32[4] -> OUTPUT0 = a + b, OUTPUT1 = a - b)
- ``tritoncore add_sub`` tritoncore serving the *same* ``model.py`` with its Python backend
- ``tritoncore identity`` tritoncore, in-process ``identity`` backend with the same I/O
                         (2 x FP32[4] in, 2 x FP32[4] out): the frontend + scheduler cost alone

Usage:  .venv/bin/python benchmarks/http_overhead.py [--concurrency 1 2 4] [--rounds 2]
Needs ``../shared/peer-triton/install.sh`` (Triton 2.51 + perf_analyzer); without Triton it
measures tritoncore only. On a 2-core VM client and servers share the CPUs: quote ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

PEER = Path(os.environ.get("PEER_HOME", Path.home() / ".cache" / "tritoncore-peer"))
PERF_ANALYZER = PEER / "bin" / "perf_analyzer"
START_SH = Path(__file__).resolve().parents[2] / "shared" / "peer-triton" / "start.sh"
ROOT = Path(__file__).resolve().parents[1]

ADD_SUB_CONFIG = """
name: "add_sub"
backend: "python"
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
        { name: "INPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
         { name: "OUTPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""
ADD_SUB_MODEL = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            a = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            b = pb_utils.get_input_tensor_by_name(request, "INPUT1").as_numpy()
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUTPUT0", a + b), pb_utils.Tensor("OUTPUT1", a - b)]))
        return responses
"""
IDENTITY_CONFIG = """
name: "identity"
backend: "identity"
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
        { name: "INPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
         { name: "OUTPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_repo(path: Path, identity: bool) -> Path:
    (path / "add_sub" / "1").mkdir(parents=True)
    (path / "add_sub" / "config.pbtxt").write_text(textwrap.dedent(ADD_SUB_CONFIG))
    (path / "add_sub" / "1" / "model.py").write_text(textwrap.dedent(ADD_SUB_MODEL))
    if identity:
        (path / "identity" / "1").mkdir(parents=True)
        (path / "identity" / "config.pbtxt").write_text(textwrap.dedent(IDENTITY_CONFIG))
    return path


def wait_ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


def perf(model: str, port: int, concurrency: int, interval_ms: int) -> tuple[float, int]:
    """(throughput infer/s, p99 µs) from one perf_analyzer run."""
    out = subprocess.run(
        [str(PERF_ANALYZER), "-m", model, "-u", f"127.0.0.1:{port}", "-i", "http",
         "--concurrency-range", str(concurrency), "--measurement-interval", str(interval_ms),
         "-s", "10000", "-r", "3"],  # fixed 3 windows: a shared VM never "stabilizes"
        capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    m = re.search(rf"Concurrency: {concurrency}, throughput: ([0-9.]+) infer/sec", text)
    p99 = re.findall(r"p99 latency: ([0-9]+) usec", text)
    if out.returncode != 0 or not m or not p99:
        raise RuntimeError(f"perf_analyzer failed on {model}@{port}:\n{text[-1500:]}")
    return float(m.group(1)), int(p99[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per point")
    ap.add_argument("--interval-ms", type=int, default=3000)
    args = ap.parse_args()
    if not PERF_ANALYZER.exists():
        print(f"perf_analyzer not found at {PERF_ANALYZER}; run ../shared/peer-triton/install.sh")
        return 2
    work = Path(tempfile.mkdtemp(prefix="http_overhead_"))
    procs: list[subprocess.Popen[bytes]] = []
    triton_port = None
    try:
        tc_port = free_port()
        tc = subprocess.Popen(
            [sys.executable, "-m", "tritoncore", "serve", "--model-repository",
             str(write_repo(work / "tc", identity=True)), "--http-address", "127.0.0.1",
             "--http-port", str(tc_port), "--grpc-port", str(free_port()),
             "--metrics-port", str(free_port())],
            stdout=open(work / "tritoncore.log", "wb"), stderr=subprocess.STDOUT)
        procs.append(tc)
        wait_ready(tc_port)
        targets = [("tritoncore identity", "identity", tc_port),
                   ("tritoncore add_sub", "add_sub", tc_port)]
        if START_SH.exists() and shutil.which("bash"):
            triton_port = free_port()
            subprocess.run(["bash", str(START_SH), "start", str(write_repo(work / "triton",
                            identity=False)), str(triton_port), str(free_port()),
                            str(free_port())], check=True, capture_output=True, timeout=180)
            targets.insert(0, ("triton add_sub", "add_sub", triton_port))
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
        for label, _, _ in targets:
            cells = []
            for c in args.concurrency:
                runs = results[(label, c)]
                thr = sum(r[0] for r in runs) / len(runs)
                p99 = sum(r[1] for r in runs) // len(runs)
                cell = f"{thr:.0f}/s ({p99} µs)"
                base = results.get(("triton add_sub", c))
                if base and label != "triton add_sub":
                    cell += f" **{thr / (sum(r[0] for r in base) / len(base)):.2f}x**"
                cells.append(cell)
            print(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        if triton_port is not None:
            subprocess.run(["bash", str(START_SH), "stop", str(triton_port)],
                           capture_output=True, timeout=120)
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
