"""System shared memory over HTTP with ``tritonclient.utils.shared_memory``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from http_support import WORKER_MODES, Raw, make_repo
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

KEY = f"/tritoncore_http_test_{os.getpid()}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("http_shm") / "models")


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(repo: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    proc = ServerProcess(repo, "--allow-client-shm=true", *request.param,
                         log_dir=repo.parent).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(server.http_url)
    yield c
    c.unregister_system_shared_memory()
    c.close()


@pytest.fixture
def regions() -> Iterator[tuple[object, object]]:
    inp = shm.create_shared_memory_region("input", KEY + "_in", 64)
    out = shm.create_shared_memory_region("output", KEY + "_out", 64)
    yield inp, out
    shm.destroy_shared_memory_region(inp)
    shm.destroy_shared_memory_region(out)


def test_inputs_and_outputs_in_system_shared_memory(
        client: httpclient.InferenceServerClient, regions: tuple[object, object]) -> None:
    h_in, h_out = regions
    array = np.array([1.5, 2.5, 3.5, 4.5], dtype=np.float32)
    shm.set_shared_memory_region(h_in, [array], offset=16)
    client.register_system_shared_memory("input", KEY + "_in", 64)
    client.register_system_shared_memory("output", KEY + "_out", 64)
    status = {r["name"]: r for r in client.get_system_shared_memory_status()}
    assert status["input"] == {"name": "input", "key": KEY + "_in", "offset": 0,
                               "byte_size": 64}
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_shared_memory("input", 16, offset=16)
    out = httpclient.InferRequestedOutput("OUTPUT0")
    out.set_shared_memory("output", 32, offset=8)
    result = client.infer("fixed4", [inp], outputs=[out])
    assert result.get_output("OUTPUT0") == {"name": "OUTPUT0", "datatype": "FP32", "shape": [4]}
    got = shm.get_contents_as_numpy(h_out, np.float32, [4], offset=8)
    np.testing.assert_array_equal(got, array)


def test_the_same_shm_request_again_reads_the_region_anew(
        client: httpclient.InferenceServerClient, regions: tuple[object, object]) -> None:
    """The same request JSON is decoded from a remembered layout after the first time: new
    contents, the region registered again elsewhere, and unregistered, must all show."""
    h_in, h_out = regions
    client.register_system_shared_memory("input", KEY + "_in", 64)
    client.register_system_shared_memory("output", KEY + "_out", 64)
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_shared_memory("input", 16)
    out = httpclient.InferRequestedOutput("OUTPUT0")
    out.set_shared_memory("output", 16)
    for step in range(3):
        shm.set_shared_memory_region(h_in, [np.full(4, step, np.float32)])
        client.infer("fixed4", [inp], outputs=[out])
        assert list(shm.get_contents_as_numpy(h_out, np.float32, [4])) == [float(step)] * 4
    client.unregister_system_shared_memory("input")
    shm.set_shared_memory_region(h_in, [np.full(4, 7, np.float32)], offset=32)
    client.register_system_shared_memory("input", KEY + "_in", 32, offset=32)
    client.infer("fixed4", [inp], outputs=[out])
    assert list(shm.get_contents_as_numpy(h_out, np.float32, [4])) == [7.0] * 4
    client.unregister_system_shared_memory("input")
    with pytest.raises(InferenceServerException, match="not registered") as err:
        client.infer("fixed4", [inp], outputs=[out])
    assert err.value.status() == "404"


def test_out_of_range_offsets_are_400(client: httpclient.InferenceServerClient,
                                      regions: tuple[object, object]) -> None:
    client.register_system_shared_memory("input", KEY + "_in", 64)
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_shared_memory("input", 16, offset=56)
    with pytest.raises(InferenceServerException, match="outside the region") as err:
        client.infer("fixed4", [inp])
    assert err.value.status() == "400"
    with pytest.raises(InferenceServerException, match="exceeds"):
        client.register_system_shared_memory("big", KEY + "_in", 64, offset=32)


def test_unregistered_region_is_404_as_in_triton(
        client: httpclient.InferenceServerClient) -> None:
    """Triton 2.51 answers 404 for an input or output naming an unregistered region."""
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_shared_memory("never-registered", 16)
    with pytest.raises(InferenceServerException, match="not registered") as err:
        client.infer("fixed4", [inp])
    assert err.value.status() == "404"
    inp.set_data_from_numpy(np.zeros(4, np.float32))
    out = httpclient.InferRequestedOutput("OUTPUT0")
    out.set_shared_memory("never-registered", 16)
    with pytest.raises(InferenceServerException, match="not registered") as err:
        client.infer("fixed4", [inp], outputs=[out])
    assert err.value.status() == "404"
    with pytest.raises(InferenceServerException, match="not registered"):
        client.get_system_shared_memory_status("never-registered")


def test_output_region_too_small_is_400(client: httpclient.InferenceServerClient,
                                        regions: tuple[object, object]) -> None:
    client.register_system_shared_memory("output", KEY + "_out", 64)
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_data_from_numpy(np.zeros(4, np.float32))
    out = httpclient.InferRequestedOutput("OUTPUT0")
    out.set_shared_memory("output", 8)
    with pytest.raises(InferenceServerException, match="needs 16 bytes"):
        client.infer("fixed4", [inp], outputs=[out])


def test_bad_keys_and_duplicate_names(client: httpclient.InferenceServerClient,
                                      regions: tuple[object, object]) -> None:
    with pytest.raises(InferenceServerException, match="not a valid POSIX shm name"):
        client.register_system_shared_memory("x", "/../../etc/passwd", 16)
    with pytest.raises(InferenceServerException, match="no shm object"):
        client.register_system_shared_memory("x", "/tritoncore_no_such_key", 16)
    client.register_system_shared_memory("input", KEY + "_in", 64)
    with pytest.raises(InferenceServerException, match="already registered"):
        client.register_system_shared_memory("input", KEY + "_in", 64)
    client.unregister_system_shared_memory("input")
    assert client.get_system_shared_memory_status() == []


def test_cuda_shared_memory_endpoints_answer(server: ServerProcess) -> None:
    raw = Raw(server.http_url)
    assert raw.json("GET", "/v2/cudasharedmemory/status") == (200, [])
    status, doc = raw.json("POST", "/v2/cudasharedmemory/region/g/register",
                           {"raw_handle": {"b64": "AAAA"}, "device_id": 0, "byte_size": 8})
    assert status == 400 and "64 bytes" in doc["error"]
    status, doc = raw.json("POST", "/v2/cudasharedmemory/region/g/register", {"device_id": 0})
    assert status == 400 and "raw_handle" in doc["error"]
    assert raw.json("GET", "/v2/cudasharedmemory/region/g/status")[0] == 404
    assert raw.json("POST", "/v2/cudasharedmemory/unregister")[0] == 200


def test_client_shm_is_off_by_default(repo: Path, regions: tuple[object, object]) -> None:
    with ServerProcess(repo, log_dir=repo.parent) as proc:
        c = httpclient.InferenceServerClient(proc.http_url)
        with pytest.raises(InferenceServerException, match="--allow-client-shm=true"):
            c.register_system_shared_memory("input", KEY + "_in", 64)
        inp = httpclient.InferInput("INPUT0", [4], "FP32")
        inp.set_shared_memory("input", 16)
        with pytest.raises(InferenceServerException, match="--allow-client-shm=true"):
            c.infer("fixed4", [inp])
        assert c.is_server_live()
        c.close()
