"""What the side-by-side benchmark scripts share: where the real Triton and perf_analyzer live
(``../shared/peer-triton/install.sh``), the comparison repository (Triton's ``add_sub`` plus an
in-process identity model of the same shape), free ports, readiness, and one HTTP
perf_analyzer run."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PEER = Path(os.environ.get("PEER_HOME", Path.home() / ".cache" / "tritoncore-peer"))
PERF_ANALYZER = PEER / "bin" / "perf_analyzer"
START_SH = Path(__file__).resolve().parents[2] / "shared" / "peer-triton" / "start.sh"
ROOT = Path(__file__).resolve().parents[1]
ADD_SUB = ROOT / "examples" / "model_repository" / "add_sub"  # the same model.py Triton runs
IDENTITY = """name: "identity"
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


def comparison_repo(path: Path, with_identity: bool, bls: bool = False) -> Path:
    """``add_sub`` (Python backend), plus tritoncore's in-process ``identity`` of its shape,
    plus (``bls``) ``bls_add``, which calls add_sub through BLS."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ADD_SUB, path / "add_sub")
    if bls:
        shutil.copytree(ROOT / "benchmarks" / "models" / "bls_add", path / "bls_add")
    if with_identity:
        (path / "identity" / "1").mkdir(parents=True)
        (path / "identity" / "config.pbtxt").write_text(IDENTITY)
    return path


def wait_ready(port: int, timeout: float = 90) -> None:
    """Until the server's HTTP endpoint says ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


def perf_http(model: str, port: int, concurrency: int, interval_ms: int) -> tuple[float, int]:
    """(throughput infer/s, p99 µs) from one perf_analyzer run over HTTP."""
    out = subprocess.run(
        [str(PERF_ANALYZER), "-m", model, "-u", f"127.0.0.1:{port}", "-i", "http",
         "--concurrency-range", str(concurrency), "--measurement-interval", str(interval_ms),
         "-s", "10000", "-r", "3"],  # fixed 3 windows: a shared VM never "stabilizes"
        check=False, capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    m = re.search(rf"Concurrency: {concurrency}, throughput: ([0-9.]+) infer/sec", text)
    p99 = re.findall(r"p99 latency: ([0-9]+) usec", text)
    if out.returncode != 0 or not m or not p99:
        raise RuntimeError(f"perf_analyzer failed on {model}@{port}:\n{text[-1500:]}")
    return float(m.group(1)), int(p99[-1])


def start_triton(repo: Path) -> tuple[int, int]:
    """The real Triton 2.51 serving ``repo`` on free ports (``start.sh``, which waits until
    it is ready); its (HTTP, gRPC) ports. Stop it with :func:`stop_triton`."""
    http, grpc = free_port(), free_port()
    subprocess.run(["bash", str(START_SH), "start", str(repo), str(http), str(grpc),
                    str(free_port())], check=True, capture_output=True, timeout=180)
    return http, grpc


def stop_triton(http_port: int) -> None:
    subprocess.run(["bash", str(START_SH), "stop", str(http_port)], check=False,
                   capture_output=True, timeout=120)


def start_tritoncore(repo: Path, args: Sequence[str] = (), tree: Path | None = None,
                     log: Path | None = None, python: str = sys.executable,
                     ) -> tuple[subprocess.Popen[bytes], int]:
    """``tritoncore serve`` of ``repo`` on free ports, HTTP on 127.0.0.1, once ready: the
    process and its HTTP port. ``tree``: a checkout whose sources it runs (default: the
    installed ones); ``log``: where its output goes (default: nowhere); ``python``: the
    interpreter (of an environment with tritoncore installed; its stubs run on it too)."""
    port = free_port()
    env = None
    if tree is not None:
        env = {**os.environ, "PYTHONPATH": f"{tree / 'core'}:{tree / 'plugins' / 'python'}"}
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [python, "-m", "tritoncore", "serve", "--model-repository", str(repo),
         "--http-address", "127.0.0.1", "--http-port", str(port),
         "--grpc-port", str(free_port()), "--metrics-port", str(free_port()), *args],
        env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(port)
    except BaseException:
        proc.kill()
        raise
    return proc, port
