"""The benchmark scripts that reach into tritoncore's internals still run against this tree.

``floor.py``'s model process and ``stub_path.py`` build stub requests by hand, and
``warm_path.py`` drives a connection directly: a change of an internal message or signature
breaks them without any other test noticing (the stub's tuple EXECUTE did, once). Each runs
here briefly; no timing is asserted, only that it works and computes the right thing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from serverproc import free_port

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _wait_live(port: int, proc: subprocess.Popen[bytes]) -> httpclient.InferenceServerClient:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", connection_timeout=10,
                                              network_timeout=10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the floor server exited before it was ready"
        try:
            if client.is_server_live():
                return client
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError("the floor server did not come up in 60 s")


@pytest.mark.parametrize("extra", [[], ["--raw-child"]], ids=["model.py", "raw-child"])
def test_floor_serves_add_sub_exactly(extra: list[str]) -> None:
    """The floor's child runs add_sub's model.py through pb_utils (or raw numpy)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(BENCHMARKS / "floor.py"), "--serve", str(port),
                             *extra], start_new_session=True, stderr=subprocess.PIPE)
    try:
        client = _wait_live(port, proc)
        a = np.array([1.5, 2.0, -3.0, 4.25], np.float32)
        b = np.array([0.5, 8.0, 3.0, -1.0], np.float32)
        inputs = [httpclient.InferInput("INPUT0", [4], "FP32"),
                  httpclient.InferInput("INPUT1", [4], "FP32")]
        inputs[0].set_data_from_numpy(a, binary_data=True)
        inputs[1].set_data_from_numpy(b, binary_data=True)
        outputs = [httpclient.InferRequestedOutput(n, binary_data=True)
                   for n in ("OUTPUT0", "OUTPUT1")]
        for _ in range(3):  # the same header block again: the floor's cached layout
            result = client.infer("add_sub", inputs, outputs=outputs)
            assert result.as_numpy("OUTPUT0").tolist() == [2.0, 10.0, 0.0, 3.25]
            assert result.as_numpy("OUTPUT1").tolist() == [1.0, -6.0, -6.0, 5.25]
        stats = client.get_inference_statistics("add_sub")
        assert stats["model_stats"][0]["inference_count"] == 3
        client.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its forked child
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode(errors="replace")


@pytest.mark.parametrize("script", ["stub_path.py", "warm_path.py"])
def test_in_process_benchmark_runs(script: str) -> None:
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), "--iterations", "50",
                          "--rounds", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "µs a request" in out.stdout
