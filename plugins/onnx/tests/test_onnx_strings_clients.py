"""BYTES through ``tensor(string)`` over a real ``tritoncore serve`` with tritonclient: UTF-8
(embedded NULs too) round-trips exactly; bytes that are not UTF-8 are the client's
INVALID_ARG naming the input (onnxruntime's Python API carries strings as UTF-8 text only)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_serving import graph_model, request, serve, write_model

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from serverproc import ServerProcess

ECHO = """
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    input [ { name: "TEXT", data_type: TYPE_STRING, dims: [ 2 ] } ]
    output [ { name: "ECHO", data_type: TYPE_STRING, dims: [ 2 ] } ]
    dynamic_batching { }
"""
# A string constant that is not UTF-8 as an output: onnxruntime cannot hand it back.
CONSTANT = """
    platform: "onnxruntime_onnx"
    input [ { name: "X", data_type: TYPE_FP32, dims: [ 1 ] } ]
    output [ { name: "Y", data_type: TYPE_FP32, dims: [ 1 ] },
             { name: "WORD", data_type: TYPE_STRING, dims: [ 1 ] } ]
"""
TEXT = np.array([["héllo".encode(), b"a\x00b"], [b"", "日本".encode()]], dtype=object)
NOT_UTF8 = np.array([[b"ok", b"bad \xff\xfe"]], dtype=object)
NOT_UTF8_MESSAGE = ("model 'echo': input 'TEXT' element 1 is not valid UTF-8 (byte 0xff at "
                    "offset 4); the ONNX Runtime backend passes BYTES to tensor(string) inputs "
                    "as UTF-8 text")
OUTPUT_MESSAGE = ("model 'constant': a string output of the model is not valid UTF-8 (invalid "
                  "start byte), which onnxruntime's Python API cannot return")


def write_models(repo: Path) -> None:
    write_model(repo, "echo", graph_model(
        [helper.make_node("Identity", ["TEXT"], ["ECHO"])],
        [("TEXT", TensorProto.STRING, ["n", 2])], [("ECHO", TensorProto.STRING, ["n", 2])]), ECHO)
    write_model(repo, "constant", graph_model(
        [helper.make_node("Identity", ["X"], ["Y"]), helper.make_node("Identity", ["C"], ["WORD"])],
        [("X", TensorProto.FLOAT, [1])],
        [("Y", TensorProto.FLOAT, [1]), ("WORD", TensorProto.STRING, [1])],
        initializers=[helper.make_tensor("C", TensorProto.STRING, [1], [b"\xff"])]), CONSTANT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repo = tmp_path_factory.mktemp("onnx_strings") / "models"
    repo.mkdir()
    write_models(repo)
    proc = ServerProcess(repo, log_dir=repo.parent).start()
    yield proc
    proc.stop()


def infer(protocol: str, url: str, model: str, name: str, value: np.ndarray,
          datatype: str, output: str) -> np.ndarray:
    module = httpclient if protocol == "http" else grpcclient
    client = module.InferenceServerClient(url)
    try:
        inp = module.InferInput(name, list(value.shape), datatype)
        inp.set_data_from_numpy(value)
        return client.infer(model, [inp]).as_numpy(output)
    finally:
        client.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_utf8_strings_with_nuls_round_trip_exactly(server: ServerProcess, protocol: str) -> None:
    url = server.http_url if protocol == "http" else server.grpc_url
    out = infer(protocol, url, "echo", "TEXT", TEXT, "BYTES", "ECHO")
    assert out.tolist() == TEXT.tolist()


@pytest.mark.parametrize("protocol, status", [("http", "400"),
                                              ("grpc", "StatusCode.INVALID_ARGUMENT")])
def test_bytes_that_are_not_utf8_are_invalid_arg_naming_the_input(
        server: ServerProcess, protocol: str, status: str) -> None:
    url = server.http_url if protocol == "http" else server.grpc_url
    with pytest.raises(InferenceServerException) as info:
        infer(protocol, url, "echo", "TEXT", NOT_UTF8, "BYTES", "ECHO")
    assert info.value.status() == status
    assert info.value.message() == NOT_UTF8_MESSAGE
    # the server still serves the model
    assert infer(protocol, url, "echo", "TEXT", TEXT, "BYTES", "ECHO").tolist() == TEXT.tolist()


def test_a_string_output_that_is_not_utf8_is_a_clear_internal_error(server: ServerProcess) -> None:
    with pytest.raises(InferenceServerException) as info:
        infer("http", server.http_url, "constant", "X", np.ones(1, np.float32), "FP32", "Y")
    assert info.value.status() == "500"
    assert info.value.message() == OUTPUT_MESSAGE


def test_only_the_request_with_bad_bytes_fails_in_a_batch(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    repo.mkdir()
    write_models(repo)

    async def body(server):
        instance = server.model("echo").runners[0].instance
        requests = [request("echo", TEXT=TEXT), request("echo", TEXT=NOT_UTF8),
                    request("echo", TEXT=TEXT[:1])]
        return await asyncio.to_thread(instance.execute, requests)

    good, bad, single = serve(repo, body)
    assert good.error is None and good.outputs[0].as_numpy().tolist() == TEXT.tolist()
    assert single.error is None and single.outputs[0].as_numpy().tolist() == TEXT[:1].tolist()
    assert bad.error is not None and bad.error.code.name == "INVALID_ARG"
    assert bad.error.message == NOT_UTF8_MESSAGE
