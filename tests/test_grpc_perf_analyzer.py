"""The real perf_analyzer drives the gRPC frontend, with and without system shared memory."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_support import start_server
from serverproc import ServerProcess

PERF_ANALYZER = Path.home() / ".cache" / "tritoncore-peer" / "bin" / "perf_analyzer"
pytestmark = pytest.mark.skipif(
    not PERF_ANALYZER.exists(),
    reason=f"perf_analyzer is not installed at {PERF_ANALYZER} "
           "(install it with ../shared/peer-triton/install.sh)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("perf"))
    yield proc
    assert proc.stop() == 0


@pytest.mark.parametrize("extra", [[], ["--shared-memory", "system"]], ids=["raw", "shm"])
def test_perf_analyzer_reports_throughput(server: ServerProcess, extra: list[str]) -> None:
    result = subprocess.run(
        [str(PERF_ANALYZER), "-m", "add_sub", "-i", "grpc", "-u", server.grpc_url,
         "--concurrency-range", "2", "--measurement-interval", "1000",
         "--stability-percentage", "100", "--max-trials", "20", *extra],
        capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Concurrency: 2, throughput: ([\d.]+) infer/sec", output)
    assert match, output
    assert float(match.group(1)) > 0
    assert "error" not in output.lower(), output
