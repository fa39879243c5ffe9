"""Inference over HTTP with the real ``tritonclient.http`` against a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as httpclient
from http_support import LABELS, WORKER_MODES, Raw, make_repo
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("http_infer")
    proc = ServerProcess(make_repo(root / "models"), *request.param, log_dir=root).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(server.http_url, concurrency=4)
    yield c
    c.close()


def roundtrip(client: httpclient.InferenceServerClient, model: str, array: np.ndarray,
              datatype: str, binary_in: bool = True, binary_out: bool = True) -> np.ndarray:
    inp = httpclient.InferInput("INPUT0", list(array.shape), datatype)
    inp.set_data_from_numpy(array, binary_data=binary_in)
    out = httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary_out)
    result = client.infer(model, [inp], outputs=[out])
    return result.as_numpy("OUTPUT0")


@pytest.mark.parametrize("binary_in, binary_out", [(True, True), (False, False),
                                                   (True, False), (False, True)])
@pytest.mark.parametrize("model, array, datatype", [
    ("fp32", np.array([[1.5, -2.25, 3e10, 0.0]], dtype=np.float32), "FP32"),
    ("int32", np.array([-(2**31), 0, 7, 2**31 - 1], dtype=np.int32), "INT32"),
    ("int64", np.array([-(2**62), 5, 2**62], dtype=np.int64), "INT64"),
    ("uint8", np.arange(200, 256, dtype=np.uint8), "UINT8"),
    ("fp64", np.array([1e-300, -2.5, np.pi]), "FP64"),
    ("bool", np.array([True, False, False, True]), "BOOL"),
])
def test_fixed_size_types_round_trip(client: httpclient.InferenceServerClient, model: str,
                                     array: np.ndarray, datatype: str, binary_in: bool,
                                     binary_out: bool) -> None:
    got = roundtrip(client, model, array, datatype, binary_in, binary_out)
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_fp16_round_trips_in_binary(client: httpclient.InferenceServerClient) -> None:
    array = np.array([0.5, -1.0, 65504.0, 1e-3], dtype=np.float16)
    got = roundtrip(client, "fp16", array, "FP16")
    np.testing.assert_array_equal(got, array)


def test_fp16_json_output_holds_the_values(client: httpclient.InferenceServerClient) -> None:
    array = np.array([0.5, -1.0, 2.0], dtype=np.float16)
    got = roundtrip(client, "fp16", array, "FP16", binary_in=True, binary_out=False)
    np.testing.assert_array_equal(got.astype(np.float16), array)


def test_bf16_json_values_round_trip(server: ServerProcess) -> None:
    # BF16 has no numpy type: JSON carries the values, binary carries 16-bit patterns.
    raw = Raw(server.http_url)
    body = {"inputs": [{"name": "INPUT0", "shape": [3], "datatype": "BF16",
                        "data": [1.0, -2.0, 0.5]}]}
    status, doc = raw.json("POST", "/v2/models/bf16/infer", body)
    assert status == 200, doc
    assert doc["outputs"][0]["datatype"] == "BF16"
    assert doc["outputs"][0]["data"] == [1.0, -2.0, 0.5]
    body["outputs"] = [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]
    status, headers, data = raw.request("POST", "/v2/models/bf16/infer", json.dumps(body))
    assert status == 200
    header_len = int(headers["inference-header-content-length"])
    bits = np.frombuffer(data[header_len:], dtype="<u2")
    assert list(bits) == [0x3F80, 0xC000, 0x3F00]


def test_bytes_with_embedded_zero_bytes(client: httpclient.InferenceServerClient) -> None:
    array = np.array([b"a\x00b", b"", b"\x00\x00\xff", "héllo".encode()], dtype=np.object_)
    got = roundtrip(client, "bytes", array, "BYTES", binary_in=True, binary_out=True)
    assert list(got) == list(array)
    text = np.array(["a\x00b", "", "\x00"], dtype=np.object_)  # valid UTF-8 goes as JSON too
    got = roundtrip(client, "bytes", text, "BYTES", binary_in=False, binary_out=True)
    assert list(got) == [b"a\x00b", b"", b"\x00"]


def test_bytes_as_json_strings(client: httpclient.InferenceServerClient) -> None:
    array = np.array(["plain", "text"], dtype=np.object_)
    got = roundtrip(client, "bytes", array, "BYTES", binary_in=False, binary_out=False)
    assert [g.decode() if isinstance(g, bytes) else g for g in got] == ["plain", "text"]


def test_request_id_is_echoed_and_version_reported(
        client: httpclient.InferenceServerClient) -> None:
    inp = httpclient.InferInput("INPUT0", [1, 2], "FP32")
    inp.set_data_from_numpy(np.ones((1, 2), np.float32))
    result = client.infer("fp32", [inp], request_id="req-42", model_version="1",
                          parameters={"custom": "value", "n": 3})
    response = result.get_response()
    assert response["id"] == "req-42"
    assert response["model_name"] == "fp32" and response["model_version"] == "1"


def test_requested_outputs_limit_the_response(client: httpclient.InferenceServerClient) -> None:
    a = httpclient.InferInput("INPUT0", [4], "FP32")
    a.set_data_from_numpy(np.arange(4, dtype=np.float32))
    b = httpclient.InferInput("INPUT1", [4], "INT32")
    b.set_data_from_numpy(np.arange(4, dtype=np.int32) * 10)
    both = client.infer("pair", [a, b])
    np.testing.assert_array_equal(both.as_numpy("OUTPUT1"), np.arange(4) * 10)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT0"), np.arange(4))
    only = client.infer("pair", [a, b], outputs=[httpclient.InferRequestedOutput("OUTPUT1")])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["OUTPUT1"]
    assert only.as_numpy("OUTPUT0") is None


def test_async_infer_many_in_flight(client: httpclient.InferenceServerClient) -> None:
    handles = []
    for i in range(16):
        inp = httpclient.InferInput("INPUT0", [1, 3], "FP32")
        inp.set_data_from_numpy(np.full((1, 3), i, np.float32))
        handles.append((i, client.async_infer("fp32", [inp])))
    for i, handle in handles:
        np.testing.assert_array_equal(handle.get_result().as_numpy("OUTPUT0"),
                                      np.full((1, 3), i, np.float32))


def test_classification_with_labels(client: httpclient.InferenceServerClient) -> None:
    scores = np.array([[0.1, 0.7, 0.05, 0.9, 0.0, 0.3]], dtype=np.float32)
    inp = httpclient.InferInput("INPUT0", list(scores.shape), "FP32")
    inp.set_data_from_numpy(scores)
    out = httpclient.InferRequestedOutput("OUTPUT0", class_count=3)
    result = client.infer("classes", [inp], outputs=[out])
    got = result.as_numpy("OUTPUT0")
    assert got.shape == (1, 3)
    texts = [v.decode() for v in got.reshape(-1)]
    assert texts == [f"0.900000:3:{LABELS[3]}", f"0.700000:1:{LABELS[1]}",
                     f"0.300000:5:{LABELS[5]}"]


@pytest.mark.parametrize("request_algo, response_algo", [("gzip", None), ("deflate", "gzip"),
                                                         (None, "deflate"), ("gzip", "gzip")])
def test_compressed_requests_and_responses(client: httpclient.InferenceServerClient,
                                           request_algo: str | None,
                                           response_algo: str | None) -> None:
    array = np.arange(64, dtype=np.float32).reshape(1, 64)
    inp = httpclient.InferInput("INPUT0", list(array.shape), "FP32")
    inp.set_data_from_numpy(array)
    result = client.infer("fp32", [inp], request_compression_algorithm=request_algo,
                          response_compression_algorithm=response_algo)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), array)


def test_errors_come_back_as_exceptions_with_the_message(
        client: httpclient.InferenceServerClient) -> None:
    inp = httpclient.InferInput("INPUT0", [4], "INT32")
    inp.set_data_from_numpy(np.zeros(4, np.int32))
    with pytest.raises(InferenceServerException, match="expects FP32, got INT32"):
        client.infer("fixed4", [inp])
    with pytest.raises(InferenceServerException, match="nope"):
        client.infer("nope", [inp])
    assert client.is_server_live()


def test_sequence_and_priority_parameters_are_accepted(
        client: httpclient.InferenceServerClient) -> None:
    inp = httpclient.InferInput("INPUT0", [1, 1], "FP32")
    inp.set_data_from_numpy(np.ones((1, 1), np.float32))
    result = client.infer("fp32", [inp], priority=1, timeout=10_000_000)
    assert result.as_numpy("OUTPUT0").shape == (1, 1)
