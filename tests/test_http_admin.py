"""Metadata, config, statistics, model repository, trace/logging settings and restricted APIs
over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from http_support import WORKER_MODES, Raw, make_repo
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("http_admin") / "models")


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(repo: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    proc = ServerProcess(repo, "--model-control-mode=explicit", "--load-model=fp32",
                         "--load-model=fixed4", "--load-model=bytes", *request.param,
                         log_dir=repo.parent).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(server.http_url)
    yield c
    c.close()


def test_server_metadata_lists_the_extensions(client: httpclient.InferenceServerClient) -> None:
    meta = client.get_server_metadata()
    assert meta["name"] == "tritoncore"
    for ext in ("binary_tensor_data", "classification", "system_shared_memory", "statistics",
                "model_repository", "trace", "logging", "parameters"):
        assert ext in meta["extensions"]


def test_model_metadata_and_config(client: httpclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata("fp32")
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, -1]}]
    assert meta["versions"] == ["1"] and meta["platform"] == "identity"
    assert client.get_model_metadata("fixed4", "1")["outputs"][0]["shape"] == [4]
    config = client.get_model_config("fp32")
    assert config["max_batch_size"] == 8
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    with pytest.raises(InferenceServerException, match="nope"):
        client.get_model_metadata("nope")


def test_statistics_grow_with_inference(client: httpclient.InferenceServerClient) -> None:
    before = client.get_inference_statistics("fixed4")["model_stats"][0]
    inp = httpclient.InferInput("INPUT0", [4], "FP32")
    inp.set_data_from_numpy(np.zeros(4, np.float32))
    for _ in range(3):
        client.infer("fixed4", [inp])
    after = client.get_inference_statistics("fixed4", "1")["model_stats"][0]
    assert after["name"] == "fixed4" and after["version"] == "1"
    grown = after["inference_stats"]["success"]["count"] - \
        before["inference_stats"]["success"]["count"]
    assert grown == 3
    assert after["inference_stats"]["queue"]["count"] >= 3
    assert after["inference_stats"]["compute_input"]["count"] == \
        after["inference_stats"]["compute_infer"]["count"] == \
        after["inference_stats"]["compute_output"]["count"]
    names = {s["name"] for s in client.get_inference_statistics()["model_stats"]}
    assert {"fp32", "fixed4"} <= names
    with pytest.raises(InferenceServerException, match="nope"):
        client.get_inference_statistics("nope")


def test_repository_index_load_and_unload(client: httpclient.InferenceServerClient,
                                          server: ServerProcess) -> None:
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["fp32"]["state"] == "READY" and "int32" in index
    assert not client.is_model_ready("int32")
    client.load_model("int32")
    assert client.is_model_ready("int32")
    status, rows = Raw(server.http_url).json("POST", "/v2/repository/index", {"ready": True})
    ready = {m["name"] for m in rows}
    assert status == 200 and "int32" in ready and "uint8" not in ready
    client.unload_model("int32")
    assert not client.is_model_ready("int32")
    with pytest.raises(InferenceServerException):
        client.load_model("no_such_model")


def test_load_with_config_and_file_overrides(client: httpclient.InferenceServerClient,
                                             repo: Path) -> None:
    config = {"name": "override", "backend": "identity", "max_batch_size": 0,
              "input": [{"name": "IN", "data_type": "TYPE_INT32", "dims": [2]}],
              "output": [{"name": "OUT", "data_type": "TYPE_INT32", "dims": [2]}]}
    client.load_model("override", config=json.dumps(config),
                      files={"file:1/notes.txt": b"hello"})
    assert client.is_model_ready("override")
    inp = httpclient.InferInput("IN", [2], "INT32")
    inp.set_data_from_numpy(np.array([3, 4], np.int32))
    np.testing.assert_array_equal(client.infer("override", [inp]).as_numpy("OUT"), [3, 4])
    client.unload_model("override")


def test_bad_load_bodies_are_400(server: ServerProcess) -> None:
    raw = Raw(server.http_url)
    status, doc = raw.json("POST", "/v2/repository/models/fp32/load",
                           {"parameters": {"config": {"not": "a string"}}})
    assert status == 400 and "config" in doc["error"]
    status, doc = raw.json("POST", "/v2/repository/models/fp32/load",
                           {"parameters": {"file:1/x": "%%%not base64"}})
    assert status == 400 and "base64" in doc["error"]
    status, doc = raw.json("POST", "/v2/repository/models/fp32/unload", "{oops")
    assert status == 400
    status, doc = raw.json("POST", "/v2/repository/index", {"ready": "yes"})
    assert status == 400 and "boolean" in doc["error"]


def test_trace_settings_store_and_return(client: httpclient.InferenceServerClient) -> None:
    settings = client.get_trace_settings()
    assert settings["trace_level"] == ["OFF"] and settings["trace_rate"] == "1000"
    updated = client.update_trace_settings(settings={"trace_rate": "5",
                                                     "trace_level": ["TIMESTAMPS"]})
    assert updated["trace_rate"] == "5" and updated["trace_level"] == ["TIMESTAMPS"]
    model = client.update_trace_settings("fp32", {"trace_count": "10"})
    assert model["trace_count"] == "10" and model["trace_rate"] == "5"
    assert client.get_trace_settings()["trace_count"] == "-1"
    reset = client.update_trace_settings("fp32", {"trace_count": None})
    assert reset["trace_count"] == "-1"
    client.update_trace_settings(settings={"trace_rate": "1000", "trace_level": ["OFF"]})
    with pytest.raises(InferenceServerException, match="trace_rate"):
        client.update_trace_settings(settings={"trace_rate": "abc"})
    with pytest.raises(InferenceServerException, match="trace file"):
        client.update_trace_settings(settings={"trace_file": "/tmp/elsewhere"})


def test_logging_settings_change_the_log_level(client: httpclient.InferenceServerClient,
                                               server: ServerProcess) -> None:
    settings = client.get_log_settings()
    assert settings == {"log_file": "", "log_info": True, "log_warning": True,
                        "log_error": True, "log_verbose_level": 0, "log_format": "default"}
    raw = Raw(server.http_url)
    raw.request("GET", "/v2/models/quiet-model-name")  # a 404, not logged at level 0
    client.update_log_settings({"log_verbose_level": 1})
    raw.request("GET", "/v2/models/loud-model-name")  # logged at DEBUG now
    client.update_log_settings({"log_verbose_level": 0})
    log = server.log()
    assert "loud-model-name" in log and "quiet-model-name" not in log
    with pytest.raises(InferenceServerException, match="boolean"):
        client.update_log_settings({"log_info": "yes"})
    with pytest.raises(InferenceServerException, match="log file"):
        client.update_log_settings({"log_file": "/tmp/x.log"})
    assert client.update_log_settings({"log_warning": False})["log_warning"] is False
    client.update_log_settings({"log_warning": True})


def test_restricted_api_needs_the_header(repo: Path) -> None:
    with ServerProcess(repo, "--http-restricted-api=model-repository,logging:admin-key=s3cret",
                       log_dir=repo.parent) as proc:
        raw = Raw(proc.http_url)
        status, doc = raw.json("POST", "/v2/repository/index")
        assert status == 403 and "admin-key" in doc["error"]
        assert raw.json("GET", "/v2/logging")[0] == 403
        assert raw.json("GET", "/v2/logging", headers={"admin-key": "wrong"})[0] == 403
        assert raw.json("GET", "/v2/logging", headers={"Admin-Key": "s3cret"})[0] == 200
        assert raw.json("POST", "/v2/repository/index", headers={"admin-key": "s3cret"})[0] == 200
        assert raw.request("GET", "/v2/health/ready")[0] == 200  # not restricted


def test_bad_restricted_api_flag_fails_start_up(repo: Path) -> None:
    proc = ServerProcess(repo, "--http-restricted-api=everything:k=v", log_dir=repo.parent)
    with pytest.raises(RuntimeError, match="unknown API 'everything'"):
        proc.start()
