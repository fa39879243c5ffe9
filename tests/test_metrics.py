"""The metrics endpoint: Triton's names, labels, HELP/TYPE lines, counters that move exactly as
requests succeed and fail."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_support import start_server
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

SAMPLE = re.compile(r'^(\w+)(?:\{([^}]*)\})? (\S+)$')
MODEL_FAMILIES = ("nv_inference_request_success", "nv_inference_request_failure",
                  "nv_inference_count", "nv_inference_exec_count",
                  "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                  "nv_inference_compute_input_duration_us",
                  "nv_inference_compute_infer_duration_us",
                  "nv_inference_compute_output_duration_us",
                  "nv_inference_pending_request_count", "nv_model_load_duration_secs")


def scrape(url: str) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, labels, value = match.groups()
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.split(",")) if labels else \
            frozenset()
        samples[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return text, samples


def metric(samples: dict, name: str, model: str, **labels: str) -> float:
    key = frozenset({("model", model), ("version", "1"), *labels.items()})
    return samples[(name, key)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("metrics"), "--metrics-interval-ms=100")
    yield proc
    assert proc.stop() == 0


def test_format_matches_tritons(server: ServerProcess) -> None:
    text, samples = scrape(server.metrics_url)
    for family in MODEL_FAMILIES:
        assert f"# HELP {family} " in text and f"# TYPE {family} " in text
    assert "# TYPE nv_inference_request_success counter" in text
    assert "# TYPE nv_inference_pending_request_count gauge" in text
    assert ("# HELP nv_inference_request_success Number of successful inference requests, "
            "all batch sizes") in text
    assert 'nv_inference_request_failure{model="add_sub",reason="BACKEND",version="1"} 0' in text
    for reason in ("REJECTED", "CANCELED", "BACKEND", "OTHER"):
        assert metric(samples, "nv_inference_request_failure", "add_sub", reason=reason) == 0
    assert metric(samples, "nv_model_load_duration_secs", "add_sub") > 0
    for cpu in ("nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes"):
        assert (cpu, frozenset()) in samples
    assert 0.0 <= samples[("nv_cpu_utilization", frozenset())] <= 1.0
    assert samples[("nv_cpu_memory_total_bytes", frozenset())] > 0


def test_counters_move_exactly_with_success_and_failure(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    _, before = scrape(server.metrics_url)
    data = np.ones(3, np.float32)
    tensor = grpcclient.InferInput("INPUT0", [3], "FP32")
    tensor.set_data_from_numpy(data)
    for _ in range(5):
        client.infer("identity_fp32", [tensor])
    for _ in range(2):
        with pytest.raises(InferenceServerException):
            client.infer("failing", [tensor])
    bad = grpcclient.InferInput("INPUT0", [3], "INT32")
    bad.set_data_from_numpy(np.ones(3, np.int32))
    with pytest.raises(InferenceServerException):  # rejected before it runs: not counted,
        client.infer("identity_fp32", [bad])       # as in Triton
    _, after = scrape(server.metrics_url)
    client.close()

    def delta(name: str, model: str, **labels: str) -> float:
        return metric(after, name, model, **labels) - metric(before, name, model, **labels)

    assert delta("nv_inference_request_success", "identity_fp32") == 5
    assert delta("nv_inference_count", "identity_fp32") == 5
    assert delta("nv_inference_exec_count", "identity_fp32") == 5
    assert delta("nv_inference_request_duration_us", "identity_fp32") > 0
    assert delta("nv_inference_queue_duration_us", "identity_fp32") >= 0
    assert delta("nv_inference_request_failure", "identity_fp32", reason="BACKEND") == 0
    assert delta("nv_inference_request_success", "failing") == 0
    assert delta("nv_inference_request_failure", "failing", reason="BACKEND") == 2
    assert delta("nv_inference_request_failure", "failing", reason="OTHER") == 0
    assert metric(after, "nv_inference_pending_request_count", "identity_fp32") == 0


def test_other_paths_and_keep_alive(server: ServerProcess) -> None:
    base = server.metrics_url.rsplit("/", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/nope", timeout=10)
    assert info.value.code == 404
    import http.client

    conn = http.client.HTTPConnection(base.split("//")[1], timeout=10)
    for _ in range(3):  # one connection, several scrapes
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200 and b"nv_inference_count" in response.read()
    conn.close()


def test_allow_metrics_false_serves_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "config.pbtxt").write_text(
        'name: "m"\nbackend: "identity"\ninput [ { name: "INPUT0", data_type: TYPE_FP32, '
        'dims: [ 1 ] } ]\noutput [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 1 ] } ]\n')
    with ServerProcess(repo, "--allow-metrics=false", log_dir=tmp_path) as proc:
        with pytest.raises(OSError):
            urllib.request.urlopen(proc.metrics_url, timeout=5)
