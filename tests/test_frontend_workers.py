"""``--http-workers N``: worker processes own the clients' sockets and relay requests to the
server process. The whole HTTP suites (test_http_infer/admin/protocol) also run with workers;
this file pins down what is particular to them: real processes, a dead worker replaced,
statistics summed in one place, cancellation across the relay, stopping, a port in use, and
the framing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from http_support import make_repo
from hypothesis import given, settings
from hypothesis import strategies as st
import serverproc
from serverproc import ServerProcess
from tritoncore.frontends.link import ANSWER, REQUEST, FrameReader, frame

WAITER = '''
import time
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Answers after 10 s, or at once (OUTPUT0 = -1) when the client has gone."""

    def execute(self, requests):
        out = []
        for request in requests:
            value = 1.0
            for _ in range(1000):
                if request.is_cancelled():
                    pb_utils.Logger.log_info("waiter: cancelled")
                    value = -1.0
                    break
                time.sleep(0.01)
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor(
                "OUTPUT0", np.full([1], value, np.float32))]))
        return out
'''


def children(pid: int) -> dict[int, str]:
    """Direct children of ``pid``: pid -> command line."""
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,args="], check=False,
                         capture_output=True, text=True).stdout
    return {int(line.split(None, 1)[0]): line.split(None, 1)[1]
            for line in out.splitlines() if line.strip()}


def workers(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    return sorted(pid for pid, cmd in children(server.proc.pid).items()
                  if "tritoncore.frontends.http.worker" in cmd)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("http_workers") / "models")
    (repo / "waiter" / "1").mkdir(parents=True)
    (repo / "waiter" / "1" / "model.py").write_text(WAITER)
    (repo / "waiter" / "config.pbtxt").write_text(textwrap.dedent("""
        backend: "python"
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 1 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 1 ] } ]"""))
    return repo


@pytest.fixture(scope="module")
def server(repo: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(repo, "--http-workers", "3", log_dir=repo.parent).start()
    yield proc
    proc.stop()


def infer_fixed4(url: str, values: np.ndarray) -> np.ndarray:
    with httpclient.InferenceServerClient(url) as client:
        inp = httpclient.InferInput("INPUT0", [4], "FP32")
        inp.set_data_from_numpy(values)
        return client.infer("fixed4", [inp]).as_numpy("OUTPUT0")


def success_count(url: str, model: str) -> int:
    with httpclient.InferenceServerClient(url) as client:
        stats = client.get_inference_statistics(model)["model_stats"][0]
        return int(stats["inference_stats"]["success"]["count"])


def test_workers_are_child_processes_and_answer_many_clients(server: ServerProcess) -> None:
    assert len(workers(server)) == 3
    before = success_count(server.http_url, "fixed4")

    def client_run(k: int) -> list[bool]:
        with httpclient.InferenceServerClient(server.http_url) as client:
            ok = []
            for i in range(25):
                values = np.array([k, i, -k, 0.5], np.float32)
                inp = httpclient.InferInput("INPUT0", [4], "FP32")
                inp.set_data_from_numpy(values)
                got = client.infer("fixed4", [inp]).as_numpy("OUTPUT0")
                ok.append(bool(np.array_equal(got, values)))
            return ok

    with ThreadPoolExecutor(24) as pool:
        results = [r for ok in pool.map(client_run, range(24)) for r in ok]
    assert results == [True] * 600
    # the statistics live in the server process: every worker's requests are counted once
    assert success_count(server.http_url, "fixed4") - before == 600


def test_a_large_body_crosses_the_relay_whole(server: ServerProcess) -> None:
    values = np.arange(3 * 1024 * 1024, dtype=np.float32)  # 12 MiB each way
    with httpclient.InferenceServerClient(server.http_url, network_timeout=60) as client:
        inp = httpclient.InferInput("INPUT0", [1, values.size], "FP32")
        inp.set_data_from_numpy(values.reshape(1, -1))
        got = client.infer("fp32", [inp]).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(got.reshape(-1), values)


@pytest.mark.parametrize("relayed", [True, False], ids=["3-workers", "in-process"])
def test_a_client_that_leaves_cancels_its_blocking_request(server: ServerProcess, repo: Path,
                                                           relayed: bool) -> None:
    """The waiter polls is_cancelled() inside a blocking execute: it sees the cancellation."""
    target = server if relayed else ServerProcess(repo, log_dir=repo.parent).start()
    body = b'{"inputs":[{"name":"INPUT0","shape":[1],"datatype":"FP32","data":[1]}]}'
    try:
        seen = target.log().count("waiter: cancelled")
        with socket.create_connection(("127.0.0.1", target.http_port)) as sock:
            sock.sendall(b"POST /v2/models/waiter/infer HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.3)  # the model is waiting now
        deadline = time.monotonic() + 5
        while target.log().count("waiter: cancelled") == seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert target.log().count("waiter: cancelled") == seen + 1
    finally:
        if not relayed:
            target.stop()


def test_workers_ignore_sigint_and_sigterm_the_server_decides(server: ServerProcess) -> None:
    """A signal to the whole process group reaches the workers too; they stay until the
    server process stops them (its own stop is tested below)."""
    pids = workers(server)
    exits = server.log().count(" exited (code")
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert workers(server) == pids
    values = np.array([4, 3, 2, 1], np.float32)
    for _ in range(6):
        np.testing.assert_array_equal(infer_fixed4(server.http_url, values), values)
    assert server.log().count(" exited (code") == exits


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(
        server: ServerProcess) -> None:
    before = workers(server)
    os.kill(before[0], signal.SIGKILL)
    values = np.array([1, 2, 3, 4], np.float32)
    # new connections go to the live workers at once, and to the replacement once it runs
    for _ in range(10):
        np.testing.assert_array_equal(infer_fixed4(server.http_url, values), values)
    deadline = time.monotonic() + 10
    while (len(workers(server)) != 3 or before[0] in workers(server)) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    after = workers(server)
    assert len(after) == 3 and before[0] not in after
    assert f"HTTP worker process {before[0]} exited" in server.log()
    for _ in range(10):
        np.testing.assert_array_equal(infer_fixed4(server.http_url, values), values)


def test_stopping_the_server_stops_its_workers(tmp_path: Path) -> None:
    proc = ServerProcess(make_repo(tmp_path / "models"), "--http-workers", "2",
                         log_dir=tmp_path).start()
    pids = workers(proc)
    assert len(pids) == 2
    np.testing.assert_array_equal(infer_fixed4(proc.http_url, np.ones(4, np.float32)),
                                  np.ones(4, np.float32))
    assert proc.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_cannot_start_fails_the_server_with_a_message(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\nif 'tritoncore.frontends.http.worker' in sys.orig_argv:\n"
        "    os._exit(3)\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    proc = ServerProcess(make_repo(tmp_path / "models"), "--http-workers", "1",
                         log_dir=tmp_path, env={"PYTHONPATH": path})
    with pytest.raises(RuntimeError, match="server exited"):
        proc.start()
    assert proc.proc is not None and proc.proc.returncode == 1
    assert "did not start (exit code 3); its error is in the server's log" in proc.log()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_port_in_use_is_a_clear_error(tmp_path: Path, workers: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = ServerProcess(make_repo(tmp_path / "models"), "--http-workers", workers,
                             log_dir=tmp_path)
        proc.args[proc.args.index(str(proc.http_port))] = str(port)
        with pytest.raises(RuntimeError, match="server exited"):
            proc.start(attempts=1)  # no new ports: the port in use is the point
    assert proc.proc is not None and proc.proc.returncode == 1
    assert f"HTTP frontend cannot listen on 127.0.0.1:{port} (Address already in use); " \
           "choose another --http-port or stop what uses it" in proc.log()
    assert "Traceback" not in proc.log()


messages = st.lists(st.one_of(
    st.tuples(st.just(REQUEST), st.integers(0, 2**40), st.binary(max_size=8),
              st.binary(max_size=30), st.dictionaries(st.binary(max_size=8),
                                                      st.binary(max_size=8), max_size=3),
              st.binary(max_size=3000), st.booleans()),
    st.tuples(st.just(ANSWER), st.integers(0, 2**40), st.binary(max_size=3000),
              st.booleans())), max_size=12)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.integers(1, 4000), max_size=30))
def test_frames_cut_anywhere_read_back_the_same(msgs: list[tuple[object, ...]],
                                                cuts: list[int]) -> None:
    stream = b"".join(frame(m) for m in msgs)
    reader, got, pos = FrameReader(), [], 0
    for cut in cuts:
        got += reader.feed(stream[pos:pos + cut])
        pos += cut
    got += reader.feed(stream[pos:])
    assert got == msgs


def test_the_harness_tries_new_ports_when_its_choice_was_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ServerProcess (every server test's harness): a port taken between choosing and
    listening is a new choice and another start, not a failed test."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        choices = [[port, *serverproc.free_ports(2)]]
        real = serverproc.free_ports
        monkeypatch.setattr(serverproc, "free_ports",
                            lambda n: choices.pop() if choices else real(n))
        proc = ServerProcess(make_repo(tmp_path / "models"), log_dir=tmp_path)
        assert proc.http_port == port
        with proc:
            assert proc.http_port != port
            assert "Address already in use" in (tmp_path / f"server-{port}.log").read_text()
            with urllib.request.urlopen(f"http://{proc.http_url}/v2/health/ready") as r:
                assert r.status == 200
