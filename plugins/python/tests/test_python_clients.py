"""Python models served by a real ``tritoncore serve`` process and driven by ``tritonclient``:
exact outputs, errors with their codes, decoupled streams, BLS, a crashing stub restarted, and
nothing left in /dev/shm or as a process afterwards."""

from __future__ import annotations

import os
import queue
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

tritonclient = pytest.importorskip("tritonclient")
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from serverproc import ServerProcess
from test_python_backend import stub_children

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[2] / "examples" / "model_repository"
MODELS = ("faulty", "repeat", "bls", "echo_args", "sender_answers")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    repo = tmp_path_factory.mktemp("pyclients")
    shutil.copytree(EXAMPLES / "add_sub", repo / "add_sub")
    for name in MODELS:
        shutil.copytree(HERE / "models" / name, repo / name)
    before = {n for n in os.listdir("/dev/shm") if n.startswith("tritoncore_python_")}
    proc = ServerProcess(repo, log_dir=tmp_path_factory.mktemp("logs")).start()
    yield proc
    pid = proc.proc.pid if proc.proc else 0
    assert proc.stop() == 0
    assert stub_children(pid) == []
    after = {n for n in os.listdir("/dev/shm") if n.startswith("tritoncore_python_")}
    assert after == before


def fp32(name: str, values: list[float], client=httpclient):
    t = client.InferInput(name, [len(values)], "FP32")
    t.set_data_from_numpy(np.array(values, dtype=np.float32))
    return t


def text(name: str, value: bytes, client=httpclient):
    t = client.InferInput(name, [1], "BYTES")
    t.set_data_from_numpy(np.array([value], dtype=np.object_))
    return t


def test_add_sub_over_http_and_grpc(server: ServerProcess) -> None:
    http = httpclient.InferenceServerClient(server.http_url)
    r = http.infer("add_sub", [fp32("INPUT0", [1, 2, 3, 4]), fp32("INPUT1", [0.5, 0.5, 1, 1])])
    assert r.as_numpy("OUTPUT0").tolist() == [1.5, 2.5, 4, 5]
    assert r.as_numpy("OUTPUT1").tolist() == [0.5, 1.5, 2, 3]
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    r = grpc.infer("add_sub", [fp32("INPUT0", [1, 1, 1, 1], grpcclient),
                               fp32("INPUT1", [2, 2, 2, 2], grpcclient)])
    assert r.as_numpy("OUTPUT1").tolist() == [-1, -1, -1, -1]


def test_bytes_and_request_fields(server: ServerProcess) -> None:
    import json

    http = httpclient.InferenceServerClient(server.http_url)
    data = httpclient.InferInput("IN", [1, 2], "BYTES")
    data.set_data_from_numpy(np.array([[b"a\x00b", b"xy"]], dtype=np.object_))
    r = http.infer("echo_args", [data], request_id="r-1", parameters={"k": "v"})
    assert r.as_numpy("OUT").tolist() == [[b"A\x00B", b"XY"]]
    info = json.loads(r.as_numpy("ARGS")[0, 0])
    assert info["request_id"] == "r-1" and info["parameters"] == {"k": "v"}


@pytest.mark.parametrize("mode, status, message", [
    ("raise", "500", "ValueError: cannot handle this input"),
    ("triton_error", "400", "input out of range"),
    ("error_response", "404", "no such item"),
    ("too_few", "500", "execute returned 0 response(s) for 1 request(s)"),
])
def test_model_errors_keep_their_codes(server: ServerProcess, mode: str, status: str,
                                       message: str) -> None:
    http = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException) as info:
        http.infer("faulty", [text("MODE", mode.encode())])
    assert info.value.status() == status
    assert message in info.value.message()
    assert http.infer("faulty", [text("MODE", b"ok")]).as_numpy("Y").tolist() == [1.5]


def test_crashing_stub_is_restarted(server: ServerProcess) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.infer("faulty", [text("MODE", b"segfault", grpcclient)])
    assert "model 'faulty' instance 'faulty_0'" in info.value.message()
    assert "killed by SIGSEGV" in info.value.message()
    r = grpc.infer("faulty", [text("MODE", b"ok", grpcclient)])
    assert r.as_numpy("Y").tolist() == [1.5]
    assert grpc.is_model_ready("faulty")


def test_decoupled_stream_and_bls(server: ServerProcess) -> None:
    results: queue.Queue = queue.Queue()
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    grpc.start_stream(callback=lambda result, error: results.put((result, error)))
    count = grpcclient.InferInput("IN", [1], "INT32")
    count.set_data_from_numpy(np.array([3], np.int32))
    grpc.async_stream_infer("repeat", [count], enable_empty_final_response=True)
    got = []
    while True:
        result, error = results.get(timeout=30)
        assert error is None
        final = result.get_response().parameters["triton_final_response"].bool_param
        if result.as_numpy("OUT") is not None:
            got.append(int(result.as_numpy("OUT")[0]))
        if final:
            break
    grpc.stop_stream()
    assert got == [0, 1, 2]
    http = httpclient.InferenceServerClient(server.http_url)
    r = http.infer("bls", [fp32("INPUT0", [1, 2, 3, 4]), text("MODE", b"add")])
    assert r.as_numpy("OUTPUT0").tolist() == [2, 4, 6, 8]
    with pytest.raises(InferenceServerException) as info:
        http.infer("bls", [fp32("INPUT0", [1, 2, 3, 4]), text("MODE", b"missing")])
    assert info.value.status() == "404" and "unknown model 'nosuch'" in info.value.message()


def test_a_model_that_is_not_decoupled_may_answer_through_its_sender(
        server: ServerProcess) -> None:
    http = httpclient.InferenceServerClient(server.http_url, concurrency=8)
    pending = [http.async_infer("sender_answers", [fp32("X", [float(i), 1.0])])
               for i in range(8)]  # more than the stub holds: some wait in the queue
    assert [p.get_result().as_numpy("Y").tolist() for p in pending] == [
        [3.0 * i, 3.0] for i in range(8)]
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    r = grpc.infer("sender_answers", [fp32("X", [0.5], grpcclient)])
    assert r.as_numpy("Y").tolist() == [1.5]
    with pytest.raises(InferenceServerException) as info:
        http.infer("sender_answers", [fp32("X", [-1.0])])
    assert "model 'sender_answers' instance 'sender_answers_0': execute returned NoneType " \
           "for 1 request(s); it must return one InferenceResponse per request, in order" \
        in str(info.value)
    r = http.infer("sender_answers", [fp32("X", [2.0])])
    assert r.as_numpy("Y").tolist() == [6.0]
