"""Raw HTTP edge cases: every malformed request gets the right status and a message, and
the server keeps serving."""

from __future__ import annotations

import gzip
import json
import socket
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from http_support import WORKER_MODES, Raw, make_repo
from serverproc import ServerProcess

GOOD = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


@pytest.fixture(scope="module", params=WORKER_MODES)
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("http_protocol")
    proc = ServerProcess(make_repo(root / "models"), "--http-max-input-size", "65536",
                         *request.param, log_dir=root).start()
    yield proc
    proc.stop()


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Raw]:
    r = Raw(server.http_url)
    yield r
    # whatever the test sent, the server still answers a good request
    status, doc = r.json("POST", "/v2/models/fixed4/infer", GOOD)
    assert status == 200, doc


def fp32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def binary_body(header: dict[str, Any], data: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + data, {"Inference-Header-Content-Length": str(len(head))}


@pytest.mark.parametrize("body, message", [
    ("{bad", "failed to parse the request JSON"),
    ("[1, 2]", "must be an object"),
    ("", "failed to parse the request JSON"),
    ('{"inputs": 3}', "'inputs' list"),
    ('{"inputs": [5]}', "must be an object"),
    ('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32"}]}', "has no data"),
    ('{"inputs": [{"name": "INPUT0", "shape": "x", "datatype": "FP32", "data": [1]}]}',
     "'shape' must be a list"),
    ('{"inputs": [{"name": "INPUT0", "shape": [-1], "datatype": "FP32", "data": [1]}]}',
     "'shape' must be a list of non-negative"),
    ('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP99", "data": [1,2,3,4]}]}',
     "unknown datatype 'FP99'"),
    ('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1,2,3]}]}',
     "needs 4 elements, 'data' has 3"),
    ('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": ["a",2,3,4]}]}',
     "not a valid FP32 array"),
    ('{"inputs": [{"name": "INPUT0", "shape": [2], "datatype": "FP32", "data": [[1],[2,3]]}]}',
     "not a valid FP32 array"),
    ('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "INT32", "data": [1,2,3,4]}]}',
     "expects FP32, got INT32"),
    ('{"inputs": [{"name": "INPUT0", "shape": [3], "datatype": "FP32", "data": [1,2,3]}]}',
     "has shape [3], the model expects [4]"),
    ('{"inputs": []}', "missing input(s) INPUT0"),
    ('{"inputs": [{"name": "NOPE", "shape": [1], "datatype": "FP32", "data": [1]}]}',
     "has no input 'NOPE'"),
    (('{"id": 5, "inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", '
      '"data": [1,2,3,4]}]}'), "'id' must be a string"),
    (('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1,2,3,4]}],'
      ' "outputs": [{"name": "NOPE"}]}'), "has no output 'NOPE'"),
    (('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1,2,3,4]}],'
      ' "outputs": [{"name": "OUTPUT0", "parameters": {"classification": -1}}]}'),
     "'classification' must be a non-negative integer"),
    (('{"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1,2,3,4]}],'
      ' "parameters": {"priority": "high"}}'), "'priority' must be an unsigned integer"),
])
def test_bad_json_requests_are_400(raw: Raw, body: str, message: str) -> None:
    status, doc = raw.json("POST", "/v2/models/fixed4/infer", body)
    assert status == 400, doc
    assert message in doc["error"]


def test_header_length_beyond_the_body_is_400(raw: Raw) -> None:
    body, headers = binary_body(GOOD, b"")
    headers["Inference-Header-Content-Length"] = str(len(body) + 100)
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", body, headers)
    assert status == 400 and b"outside the request body" in data


def test_header_length_not_a_number_is_400(raw: Raw) -> None:
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", json.dumps(GOOD),
                                  {"Inference-Header-Content-Length": "abc"})
    assert status == 400 and b"non-negative integer" in data


def test_binary_input_with_wrong_byte_count_is_400(raw: Raw) -> None:
    header = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 12}}]}
    body, headers = binary_body(header, fp32(1, 2, 3))
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", body, headers)
    assert status == 400 and b"needs 16 bytes, got 12" in data


def test_binary_size_running_past_the_body_is_400(raw: Raw) -> None:
    header = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}}]}
    body, headers = binary_body(header, fp32(1, 2))
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", body, headers)
    assert status == 400 and b"runs past the end" in data


def test_unused_binary_bytes_are_400(raw: Raw) -> None:
    header = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}}]}
    body, headers = binary_body(header, fp32(1, 2, 3, 4, 5))
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", body, headers)
    assert status == 400 and b"unused" in data


def test_truncated_bytes_element_is_400(raw: Raw) -> None:
    header = {"inputs": [{"name": "INPUT0", "shape": [1], "datatype": "BYTES",
                          "parameters": {"binary_data_size": 6}}]}
    body, headers = binary_body(header, struct.pack("<I", 10) + b"ab")
    status, _, data = raw.request("POST", "/v2/models/bytes/infer", body, headers)
    assert status == 400 and b"claims 10 bytes" in data


def test_binary_input_and_binary_output(raw: Raw) -> None:
    header = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}}],
              "parameters": {"binary_data_output": True}}
    body, headers = binary_body(header, fp32(1, 2, 3, 4))
    status, resp_headers, data = raw.request("POST", "/v2/models/fixed4/infer", body, headers)
    assert status == 200
    assert resp_headers["content-type"] == "application/octet-stream"
    n = int(resp_headers["inference-header-content-length"])
    doc = json.loads(data[:n])
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert data[n:] == fp32(1, 2, 3, 4)


def test_raw_single_input_body_with_header_length_zero(raw: Raw) -> None:
    status, headers, data = raw.request("POST", "/v2/models/fixed4/infer", fp32(1, 2, 3, 4),
                                        {"Inference-Header-Content-Length": "0"})
    assert status == 200, data
    n = int(headers["inference-header-content-length"])
    doc = json.loads(data[:n])
    assert doc["outputs"][0]["shape"] == [4] and data[n:] == fp32(1, 2, 3, 4)
    # variable dims: a 1-D tensor of the elements; batching models get batch 1
    status, headers, data = raw.request("POST", "/v2/models/fp32/infer", fp32(5, 6, 7),
                                        {"Inference-Header-Content-Length": "0"})
    assert status == 200, data
    n = int(headers["inference-header-content-length"])
    assert json.loads(data[:n])["outputs"][0]["shape"] == [1, 3]
    # BYTES: the whole body is one element
    status, headers, data = raw.request("POST", "/v2/models/bytes/infer", b"a\x00b",
                                        {"Inference-Header-Content-Length": "0"})
    assert status == 200, data
    n = int(headers["inference-header-content-length"])
    assert data[n:] == struct.pack("<I", 3) + b"a\x00b"


def test_raw_body_for_a_model_with_two_inputs_is_400(raw: Raw) -> None:
    status, _, data = raw.request("POST", "/v2/models/pair/infer", fp32(1, 2, 3, 4),
                                  {"Inference-Header-Content-Length": "0"})
    assert status == 400 and b"exactly 1 input" in data


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v2/nope", 404),
    ("GET", "/v1/models", 404),
    ("GET", "/v2/models/nope", 404),
    ("GET", "/v2/models/fixed4/versions/7", (404, 503)),  # Triton: 404; the core decides
    ("GET", "/v2/models/fixed4/versions/abc", 404),
    ("POST", "/v2/models/nope/infer", 404),
    ("POST", "/v2/models/fixed4/versions/9/infer", (404, 503)),
    ("GET", "/v2/models/fixed4/infer", 405),
    ("POST", "/v2/health/live", 405),
    ("GET", "/v2/models/fixed4/config/extra", 404),
])
def test_unknown_routes_models_and_versions(raw: Raw, method: str, path: str,
                                            status: int | tuple[int, int]) -> None:
    body = json.dumps(GOOD) if method == "POST" else None
    got, _, data = raw.request(method, path, body)
    assert got in (status if isinstance(status, tuple) else (status,)), data
    assert json.loads(data)["error"]


def test_gzip_and_deflate_request_bodies(raw: Raw) -> None:
    body = json.dumps(GOOD).encode()
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        status, doc = raw.json("POST", "/v2/models/fixed4/infer", packed,
                               {"Content-Encoding": encoding})
        assert status == 200, doc
        assert doc["outputs"][0]["data"] == [1.0, 2.0, 3.0, 4.0]


def test_corrupt_gzip_is_400_and_unknown_encoding_501(raw: Raw) -> None:
    status, doc = raw.json("POST", "/v2/models/fixed4/infer", b"not gzip at all",
                           {"Content-Encoding": "gzip"})
    assert status == 400 and "not valid gzip" in doc["error"]
    status, doc = raw.json("POST", "/v2/models/fixed4/infer", b"x", {"Content-Encoding": "br"})
    assert status == 501 and "gzip or deflate" in doc["error"]


def test_gzip_response_when_accepted(raw: Raw) -> None:
    status, headers, data = raw.request("POST", "/v2/models/fixed4/infer", json.dumps(GOOD),
                                        {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(data))["outputs"][0]["data"] == [1.0, 2.0, 3.0, 4.0]


def test_body_over_the_size_limit_is_413(raw: Raw) -> None:
    big = json.dumps({"inputs": [{"name": "INPUT0", "shape": [1], "datatype": "FP32",
                                  "data": [0] * 40000}]})
    status, _, data = raw.request("POST", "/v2/models/fixed4/infer", big)
    assert status == 413 and b"--http-max-input-size" in data


def test_gzip_bomb_is_refused(raw: Raw) -> None:
    bomb = gzip.compress(b" " * 1_000_000)
    status, doc = raw.json("POST", "/v2/models/fixed4/infer", bomb, {"Content-Encoding": "gzip"})
    assert status == 400 and "exceeds" in doc["error"]


def test_garbage_on_the_socket_gets_400_and_a_closed_connection(server: ServerProcess,
                                                                raw: Raw) -> None:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")


def test_pipelined_requests_are_answered_in_order(server: ServerProcess, raw: Raw) -> None:
    def req(value: float) -> bytes:
        body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                                       "data": [value] * 4}]}).encode()
        return (b"POST /v2/models/fixed4/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % len(body)) + body
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(req(1) + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n" + req(2))
        f = s.makefile("rb")
        seen = []
        for _ in range(3):
            status = f.readline()
            length = 0
            while (line := f.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            seen.append((status.split()[1], f.read(length)))
    assert seen[0][0] == b"200" and b"[1.0,1.0,1.0,1.0]" in seen[0][1]
    assert seen[1] == (b"200", b"")
    assert seen[2][0] == b"200" and b"[2.0,2.0,2.0,2.0]" in seen[2][1]


def test_repeated_requests_with_the_body_sent_apart_get_their_own_answers(
        server: ServerProcess) -> None:
    """The same header block again and again (the connection then skips the parser), the body
    sometimes in a later write, as curl sends it: every answer carries its own request's data."""
    header = json.dumps({"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}],
                         "parameters": {"binary_data_output": True}}).encode()

    def request(value: float) -> tuple[bytes, bytes]:
        body = header + fp32(value, value + 1, value + 2, value + 3)
        head = (b"POST /v2/models/fixed4/infer HTTP/1.1\r\nHost: x\r\n"
                b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
                % (len(header), len(body)))
        return head, body

    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        for i in range(6):
            head, body = request(10.0 * i)
            if i % 2:
                s.sendall(head)
                s.sendall(body[:7])
                s.sendall(body[7:])
            else:
                s.sendall(head + body)
            assert f.readline().split()[1] == b"200"
            lengths = {}
            while (line := f.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                lengths[name.lower()] = value.strip()
            data = f.read(int(lengths[b"content-length"]))
            n = int(lengths[b"inference-header-content-length"])
            assert data[n:] == fp32(10.0 * i, 10.0 * i + 1, 10.0 * i + 2, 10.0 * i + 3)


def test_health_and_readiness(raw: Raw) -> None:
    status, headers, body = raw.request("GET", "/v2/health/live")
    assert (status, headers["content-type"], body) == (200, "text/plain", b"")  # Triton's
    assert raw.request("GET", "/v2/health/ready")[0] == 200
    assert raw.request("GET", "/v2/models/fixed4/ready")[0] == 200
    assert raw.request("GET", "/v2/models/fixed4/versions/1/ready")[0] == 200
    status, headers, body = raw.request("GET", "/v2/models/fixed4/versions/2/ready")
    assert (status, headers["content-type"]) == (400, "application/json")
    assert json.loads(body) == {"error": "model 'fixed4' version 2 is not ready: version not "
                                         "found; loaded versions: [1]"}
