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


ENSEMBLE = """
name: "twice"
platform: "ensemble"
max_batch_size: 0
input [ { name: "IN", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "OUT", data_type: TYPE_FP32, dims: [ 4 ] } ]
ensemble_scheduling { step [
  { model_name: "fixed4", model_version: -1, input_map { key: "INPUT0", value: "IN" },
    output_map { key: "OUTPUT0", value: "mid" } },
  { model_name: "fixed4", model_version: -1, input_map { key: "INPUT0", value: "mid" },
    output_map { key: "OUTPUT0", value: "OUT" } } ] }
"""


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("http_perf")
    models = make_repo(root / "models")
    (models / "twice" / "1").mkdir(parents=True)
    (models / "twice" / "config.pbtxt").write_text(ENSEMBLE)
    proc = ServerProcess(models, "--allow-client-shm=true",
                         *request.param, log_dir=root).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("model, extra", [
    ("fixed4", []), ("fixed4", ["--shared-memory", "system"]),
    ("twice", []),  # an ensemble: its statistics must count its requests
], ids=["body", "shm", "ensemble"])
def test_perf_analyzer_reports_throughput_without_errors(server: ServerProcess, model: str,
                                                         extra: list[str]) -> None:
    result = subprocess.run(
        [str(PERF_ANALYZER), "-m", model, "-u", server.http_url, "-i", "http",
         "--concurrency-range", "2", "--measurement-interval", "1000", "-r", "5", "--stability-percentage", "500",
         *extra],
        check=False, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + server.log()[-3000:]
    match = re.search(r"Concurrency: 2, throughput: ([0-9.]+) infer/sec", output)
    assert match and float(match.group(1)) > 0, output
    assert "error" not in output.lower(), output
