"""The real perf_analyzer drives the HTTP frontend, with and without system shared memory, in
the server process and through HTTP worker processes."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_support import WORKER_MODES, make_repo
from serverproc import ServerProcess

PERF_ANALYZER = Path.home() / ".cache" / "tritoncore-peer" / "bin" / "perf_analyzer"

pytestmark = pytest.mark.skipif(
    not PERF_ANALYZER.exists(),
    reason=f"perf_analyzer is not installed at {PERF_ANALYZER} "
           "(../shared/peer-triton/install.sh installs it)")


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("http_perf")
    proc = ServerProcess(make_repo(root / "models"), "--allow-client-shm=true",
                         *request.param, log_dir=root).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("extra", [[], ["--shared-memory", "system"]], ids=["body", "shm"])
def test_perf_analyzer_reports_throughput_without_errors(server: ServerProcess,
                                                         extra: list[str]) -> None:
    result = subprocess.run(
        [str(PERF_ANALYZER), "-m", "fixed4", "-u", server.http_url, "-i", "http",
         "--concurrency-range", "2", "--measurement-interval", "1000", "-r", "5", "--stability-percentage", "500",
         *extra],
        check=False, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + server.log()[-3000:]
    match = re.search(r"Concurrency: 2, throughput: ([0-9.]+) infer/sec", output)
    assert match and float(match.group(1)) > 0, output
    assert "error" not in output.lower(), output
