"""The gRPC frontend driven by the real ``tritonclient.grpc`` (sync, aio, streaming) against a
real ``tritoncore serve`` process, once per transport (tritoncore's own HTTP/2 and grpcio)."""

from __future__ import annotations

import asyncio
import base64
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
import tritonclient.utils.shared_memory as shm
from grpc_support import start_server
from serverproc import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException
from tritoncore.protocol import health_pb2


@pytest.fixture(scope="module", params=["native", "grpcio"])
def server(tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("grpc"), f"--grpc-transport={request.param}")
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    c = grpcclient.InferenceServerClient(server.grpc_url)
    yield c
    c.close()


def infer_input(name: str, array: np.ndarray, datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def raise_status(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value


# --- health and metadata ---------------------------------------------------------------------


def test_health_and_readiness(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("identity_fp32")
    assert client.is_model_ready("identity_fp32", "1")
    assert not client.is_model_ready("no_such_model")


def test_standard_health_service(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.grpc_url) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        assert check(health_pb2.HealthCheckRequest()).status == \
            health_pb2.HealthCheckResponse.SERVING
        watch = channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        stream = watch(health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"))
        assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        stream.cancel()


def test_server_and_model_metadata(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "tritoncore"
    assert {"classification", "system_shared_memory", "statistics", "model_repository",
            "trace", "logging"} <= set(meta["extensions"])
    model = client.get_model_metadata("identity_batch", as_json=True)
    assert model["name"] == "identity_batch" and model["versions"] == ["1"]
    assert model["platform"] == "identity"
    assert model["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": ["-1", "-1"]}]


def test_model_config_is_the_config_message(client: grpcclient.InferenceServerClient) -> None:
    config = client.get_model_config("classes").config
    assert config.name == "classes" and config.max_batch_size == 2
    assert config.output[0].label_filename == "labels.txt"
    assert config.input[0].data_type == 11  # TYPE_FP32


def test_statistics_count_requests(client: grpcclient.InferenceServerClient) -> None:
    before = client.get_inference_statistics("add_sub").model_stats[0]
    a = np.ones(4, np.float32)
    client.infer("add_sub", [infer_input("INPUT0", a, "FP32"), infer_input("INPUT1", a, "FP32")])
    after = client.get_inference_statistics("add_sub", "1").model_stats[0]
    assert after.inference_stats.success.count == before.inference_stats.success.count + 1
    assert after.inference_stats.queue.count == before.inference_stats.queue.count + 1
    assert after.execution_count == before.execution_count + 1
    everything = client.get_inference_statistics(as_json=True)["model_stats"]
    assert {"add_sub", "identity_fp32"} <= {s["name"] for s in everything}
    err = raise_status(lambda: client.get_inference_statistics("no_such_model"))
    assert err.status() == "StatusCode.NOT_FOUND"


def test_repository_index_load_unload(client: grpcclient.InferenceServerClient) -> None:
    index = client.get_model_repository_index(as_json=True)["models"]
    assert {"name": "add_sub", "version": "1", "state": "READY"} in index
    client.unload_model("reloadable")
    assert not client.is_model_ready("reloadable")
    client.load_model("reloadable")
    assert client.is_model_ready("reloadable")
    config = ('{"name": "reloadable", "backend": "identity", "max_batch_size": 0, '
              '"input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [2]}], '
              '"output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [2]}]}')
    client.load_model("reloadable", config=config)
    meta = client.get_model_metadata("reloadable", as_json=True)
    assert meta["inputs"][0]["shape"] == ["2"]


# --- inference ---------------------------------------------------------------------------------


DATA = {
    "BOOL": np.array([True, False, True]),
    "UINT8": np.array([0, 7, 255], np.uint8),
    "UINT16": np.array([0, 7, 65535], np.uint16),
    "UINT32": np.array([0, 7, 2**32 - 1], np.uint32),
    "UINT64": np.array([0, 7, 2**64 - 1], np.uint64),
    "INT8": np.array([-128, 0, 127], np.int8),
    "INT16": np.array([-32768, 0, 32767], np.int16),
    "INT32": np.array([-(2**31), 0, 2**31 - 1], np.int32),
    "INT64": np.array([-(2**63), 0, 2**63 - 1], np.int64),
    "FP16": np.array([0.5, -1.0, 65504], np.float16),
    "FP32": np.array([0.5, -1.0, 3.25], np.float32),
    "FP64": np.array([0.5, -1.0, 1e300], np.float64),
    "BYTES": np.array([b"", b"a\x00b", b"\x00\x00\xff"], np.object_),
}


@pytest.mark.parametrize("datatype", sorted(DATA))
def test_infer_every_datatype_raw(client: grpcclient.InferenceServerClient,
                                  datatype: str) -> None:
    array = DATA[datatype]
    result = client.infer(f"identity_{datatype.lower()}",
                          [infer_input("INPUT0", array, datatype)], request_id=f"id-{datatype}")
    out = result.as_numpy("OUTPUT0")
    assert out.dtype == array.dtype or datatype == "BYTES"
    assert list(out) == list(array)
    response = result.get_response()
    assert response.id == f"id-{datatype}" and response.model_version == "1"
    assert response.outputs[0].datatype == datatype


def test_bf16_raw_bytes_pass_through(client: grpcclient.InferenceServerClient) -> None:
    bits = np.array([0x3F80, 0xC000], np.uint16)  # 1.0, -2.0
    stub = service_pb2_grpc.GRPCInferenceServiceStub(client._channel)
    request = service_pb2.ModelInferRequest(model_name="identity_bf16")
    request.inputs.add(name="INPUT0", datatype="BF16", shape=[2])
    request.raw_input_contents.append(bits.tobytes())
    response = stub.ModelInfer(request)
    assert response.outputs[0].datatype == "BF16"
    assert response.raw_output_contents[0] == bits.tobytes()


@pytest.mark.parametrize("datatype, field", [
    ("INT32", "int_contents"), ("INT8", "int_contents"), ("UINT16", "uint_contents"),
    ("INT64", "int64_contents"), ("UINT64", "uint64_contents"), ("FP32", "fp32_contents"),
    ("FP64", "fp64_contents"), ("BOOL", "bool_contents"), ("BYTES", "bytes_contents"),
])
def test_infer_typed_contents(client: grpcclient.InferenceServerClient, datatype: str,
                              field: str) -> None:
    values = list(DATA[datatype])
    stub = service_pb2_grpc.GRPCInferenceServiceStub(client._channel)
    request = service_pb2.ModelInferRequest(model_name=f"identity_{datatype.lower()}")
    tensor = request.inputs.add(name="INPUT0", datatype=datatype, shape=[len(values)])
    getattr(tensor.contents, field).extend(
        [bytes(v) for v in values] if datatype == "BYTES" else [v.item() for v in values])
    response = stub.ModelInfer(request)
    result = grpcclient.InferResult(response)
    assert list(result.as_numpy("OUTPUT0")) == values


def test_classification_with_labels(client: grpcclient.InferenceServerClient) -> None:
    scores = np.array([[0.1, 0.7, 0.05, 0.15], [0.9, 0.0, 0.0, 0.1]], np.float32)
    result = client.infer("classes", [infer_input("INPUT0", scores, "FP32")],
                          outputs=[grpcclient.InferRequestedOutput("OUTPUT0", class_count=2)])
    top = result.as_numpy("OUTPUT0")
    assert top.shape == (2, 2)
    assert top[0, 0].decode().split(":")[1:] == ["1", "one"]
    assert top[0, 1].decode().split(":")[1:] == ["3", "three"]
    assert top[1, 0].decode().split(":")[1:] == ["0", "zero"]


@pytest.mark.parametrize("field, count", [("int64_param", -1), ("string_param", "2"),
                                          ("bool_param", True)])
def test_a_malformed_classification_is_invalid(client: grpcclient.InferenceServerClient,
                                               field: str, count: object) -> None:
    """The same check and words as HTTP's (frontends/outputs.py); the server serves on."""
    scores = np.array([[0.1, 0.7, 0.05, 0.15]], np.float32)
    output = grpcclient.InferRequestedOutput("OUTPUT0")
    setattr(output._output.parameters["classification"], field, count)  # malformed class_count
    with pytest.raises(InferenceServerException) as err:
        client.infer("classes", [infer_input("INPUT0", scores, "FP32")], outputs=[output])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "output 'OUTPUT0': 'classification' must be a non-negative integer" in \
        err.value.message()
    test_classification_with_labels(client)


def test_requested_outputs_and_parameters(client: grpcclient.InferenceServerClient) -> None:
    a, b = np.ones(4, np.float32), np.full(4, 2, np.float32)
    result = client.infer("add_sub", [infer_input("INPUT0", a, "FP32"),
                                      infer_input("INPUT1", b, "FP32")],
                          outputs=[grpcclient.InferRequestedOutput("OUTPUT1")],
                          parameters={"custom": "x", "n": 3})
    assert [o.name for o in result.get_response().outputs] == ["OUTPUT1"]
    assert list(result.as_numpy("OUTPUT1")) == list(b)


@pytest.mark.parametrize("model, inputs, status, words", [
    ("no_such_model", [("INPUT0", DATA["FP32"], "FP32")], "NOT_FOUND", "no_such_model"),
    ("identity_fp32", [("INPUT0", DATA["INT32"], "INT32")], "INVALID_ARGUMENT", "expects FP32"),
    ("add_sub", [("INPUT0", np.ones(4, np.float32), "FP32")], "INVALID_ARGUMENT", "INPUT1"),
    ("add_sub", [("INPUT0", np.ones(5, np.float32), "FP32"),
                 ("INPUT1", np.ones(5, np.float32), "FP32")], "INVALID_ARGUMENT", "shape"),
    ("identity_fp32", [("NOPE", DATA["FP32"], "FP32")], "INVALID_ARGUMENT", "NOPE"),
    ("failing", [("INPUT0", DATA["FP32"], "FP32")], "INTERNAL", "boom"),
    ("decoupled", [("INPUT0", DATA["FP32"], "FP32")], "UNIMPLEMENTED", "stream"),
])
def test_infer_errors_have_tritons_status(client: grpcclient.InferenceServerClient, model: str,
                                          inputs: list[Any], status: str, words: str) -> None:
    err = raise_status(lambda: client.infer(model, [infer_input(*i) for i in inputs]))
    assert err.status() == f"StatusCode.{status}"
    assert words in err.message()
    assert client.infer("identity_fp32", [infer_input("INPUT0", DATA["FP32"], "FP32")])


def test_malformed_requests_are_invalid_argument(client: grpcclient.InferenceServerClient) -> None:
    stub = service_pb2_grpc.GRPCInferenceServiceStub(client._channel)

    def call(request: Any) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request)
        return info.value

    short = service_pb2.ModelInferRequest(model_name="identity_fp32")
    short.inputs.add(name="INPUT0", datatype="FP32", shape=[3])
    short.raw_input_contents.append(b"\x00" * 11)
    extra = service_pb2.ModelInferRequest()
    extra.CopyFrom(short)
    extra.raw_input_contents[0] = b"\x00" * 12
    extra.raw_input_contents.append(b"\x00")
    bad_bytes = service_pb2.ModelInferRequest(model_name="identity_bytes")
    bad_bytes.inputs.add(name="INPUT0", datatype="BYTES", shape=[1])
    bad_bytes.raw_input_contents.append(b"\xff\x00\x00\x00ab")
    no_data = service_pb2.ModelInferRequest(model_name="identity_fp32")
    no_data.inputs.add(name="INPUT0", datatype="FP32", shape=[1])
    bad_version = service_pb2.ModelInferRequest(model_name="identity_fp32", model_version="x")
    missing_version = service_pb2.ModelInferRequest(model_name="identity_fp32",
                                                    model_version="9")
    for request, code in [(short, "INVALID_ARGUMENT"), (extra, "INVALID_ARGUMENT"),
                          (bad_bytes, "INVALID_ARGUMENT"), (no_data, "INVALID_ARGUMENT"),
                          (bad_version, "INVALID_ARGUMENT"),
                          # Triton 2.51 says NOT_FOUND here; tritoncore's core says UNAVAILABLE
                          (missing_version, "NOT_FOUND")]:
        err = call(request)
        assert err.code().name == code, (request, err.details())
        assert err.details()


def test_aio_client(server: ServerProcess) -> None:
    async def go() -> None:
        c = aioclient.InferenceServerClient(server.grpc_url)
        try:
            assert await c.is_server_ready()
            inputs = [aioclient.InferInput("INPUT0", [3], "FP32")]
            inputs[0].set_data_from_numpy(DATA["FP32"])
            results = await asyncio.gather(*[c.infer("identity_fp32", inputs,
                                                     request_id=str(i)) for i in range(20)])
            assert sorted(int(r.get_response().id) for r in results) == list(range(20))
            assert all(list(r.as_numpy("OUTPUT0")) == list(DATA["FP32"]) for r in results)
            with pytest.raises(InferenceServerException):
                await c.infer("no_such_model", inputs)
        finally:
            await c.close()

    asyncio.run(go())


def test_client_timeout_cancels_and_server_keeps_serving(
        client: grpcclient.InferenceServerClient) -> None:
    err = raise_status(lambda: client.infer("slow", [infer_input("INPUT0", DATA["FP32"], "FP32")],
                                            client_timeout=0.05))
    assert err.status() == "StatusCode.DEADLINE_EXCEEDED"
    assert client.infer("identity_fp32", [infer_input("INPUT0", DATA["FP32"], "FP32")])


# --- streaming ---------------------------------------------------------------------------------


def stream_results(client: grpcclient.InferenceServerClient) -> queue.Queue[Any]:
    results: queue.Queue[Any] = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    return results


def test_stream_non_decoupled_errors_keep_the_stream_usable(
        client: grpcclient.InferenceServerClient) -> None:
    results = stream_results(client)
    try:
        good = [infer_input("INPUT0", DATA["FP32"], "FP32")]
        client.async_stream_infer("identity_fp32", good, request_id="1")
        client.async_stream_infer("no_such_model", good, request_id="2")
        client.async_stream_infer("identity_fp32", [infer_input("INPUT0", DATA["INT32"],
                                                                "INT32")], request_id="3")
        client.async_stream_infer("identity_fp32", good, request_id="4")
        got = [results.get(timeout=10) for _ in range(4)]
    finally:
        client.stop_stream()
    ok = [r for r, e in got if e is None]
    errors = [e for r, e in got if e is not None]
    assert [r.get_response().id for r in ok] == ["1", "4"]
    for r in ok:
        final = r.get_response().parameters["triton_final_response"]
        assert final.bool_param is True
        assert list(r.as_numpy("OUTPUT0")) == list(DATA["FP32"])
    assert "no_such_model" in errors[0].message() and "expects FP32" in errors[1].message()


@pytest.mark.parametrize("empty_final", [False, True])
def test_stream_decoupled_responses_in_order(client: grpcclient.InferenceServerClient,
                                             empty_final: bool) -> None:
    results = stream_results(client)
    try:
        for n, rid in ((3, "a"), (0, "b"), (2, "c")):
            client.async_stream_infer(
                "decoupled", [infer_input("INPUT0", np.array([n], np.float32), "FP32")],
                request_id=rid, enable_empty_final_response=empty_final)
        expected = 5 + (3 if empty_final else 0)
        got = [results.get(timeout=10) for _ in range(expected)]
        with pytest.raises(queue.Empty):
            results.get(timeout=0.3)
    finally:
        client.stop_stream()
    assert all(e is None for _, e in got)
    by_id: dict[str, list[Any]] = {}
    for r, _ in got:
        by_id.setdefault(r.get_response().id, []).append(r)
    for rid, n in (("a", 3), ("b", 0), ("c", 2)):
        rows = by_id.get(rid, [])
        data = [r.as_numpy("OUTPUT0") for r in rows if r.get_response().outputs]
        assert [int(d[0]) for d in data] == list(range(n))
        finals = [r.get_response().parameters["triton_final_response"].bool_param for r in rows]
        if empty_final:
            assert finals == [False] * n + [True]
            assert not rows[-1].get_response().outputs
        else:
            assert finals == [False] * n


def test_stream_backend_error_is_reported_on_the_stream(
        client: grpcclient.InferenceServerClient) -> None:
    results = stream_results(client)
    try:
        client.async_stream_infer("failing", [infer_input("INPUT0", DATA["FP32"], "FP32")])
        first = results.get(timeout=10)
        client.async_stream_infer("identity_fp32", [infer_input("INPUT0", DATA["FP32"], "FP32")])
        second = results.get(timeout=10)
    finally:
        client.stop_stream()
    assert first[0] is None and "boom" in first[1].message()
    assert second[1] is None


# --- shared memory -----------------------------------------------------------------------------


def shm_tensors(source: str, target: str) -> tuple[list[grpcclient.InferInput],
                                                   list[grpcclient.InferRequestedOutput]]:
    """add_sub's two FP32[4] inputs at offsets 0 and 16 of region ``source``, its outputs
    at offsets 0 and 16 of ``target``."""
    inputs = [grpcclient.InferInput(f"INPUT{i}", [4], "FP32") for i in range(2)]
    outputs = [grpcclient.InferRequestedOutput(f"OUTPUT{i}") for i in range(2)]
    for i in range(2):
        inputs[i].set_shared_memory(source, 16, offset=16 * i)
        outputs[i].set_shared_memory(target, 16, offset=16 * i)
    return inputs, outputs


def test_system_shared_memory_inputs_and_outputs(
        client: grpcclient.InferenceServerClient) -> None:
    a = np.arange(4, dtype=np.float32)
    b = np.arange(4, dtype=np.float32) * 10
    handle_in = shm.create_shared_memory_region("in", "/tc_grpc_in", 32)
    handle_out = shm.create_shared_memory_region("out", "/tc_grpc_out", 32)
    try:
        shm.set_shared_memory_region(handle_in, [a, b])
        client.register_system_shared_memory("in", "/tc_grpc_in", 32)
        client.register_system_shared_memory("out", "/tc_grpc_out", 32)
        status = client.get_system_shared_memory_status(as_json=True)["regions"]
        assert status["in"]["key"] == "/tc_grpc_in" and status["in"]["byte_size"] == "32"
        inputs, outputs = shm_tensors("in", "out")
        result = client.infer("add_sub", inputs, outputs=outputs)
        out0 = result.get_output("OUTPUT0")
        assert out0.parameters["shared_memory_region"].string_param == "out"
        assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4])) == list(a)
        assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4], offset=16)) == \
            list(b)

        # Errors: offset beyond the region, an unregistered region, a region registered twice.
        inputs[1].set_shared_memory("in", 16, offset=24)
        err = raise_status(lambda: client.infer("add_sub", inputs))
        assert err.status() == "StatusCode.INVALID_ARGUMENT" and "outside" in err.message()
        inputs[1].set_shared_memory("nope", 16)
        err = raise_status(lambda: client.infer("add_sub", inputs))
        assert err.status() == "StatusCode.NOT_FOUND" and "nope" in err.message()  # as Triton
        err = raise_status(lambda: client.register_system_shared_memory("in", "/tc_grpc_in", 8))
        assert err.status() == "StatusCode.ALREADY_EXISTS"
        err = raise_status(lambda: client.register_system_shared_memory("x", "/tc_no_such", 8))
        assert err.status() == "StatusCode.INVALID_ARGUMENT"
        err = raise_status(lambda: client.get_system_shared_memory_status("nope"))
        assert err.status() == "StatusCode.NOT_FOUND"
    finally:
        client.unregister_system_shared_memory()
        shm.destroy_shared_memory_region(handle_in)
        shm.destroy_shared_memory_region(handle_out)
    assert client.get_system_shared_memory_status(as_json=True) == {}


def test_the_same_shm_request_again_reads_the_regions_anew(
        client: grpcclient.InferenceServerClient) -> None:
    """A request whose tensors are all in shm is byte-identical every time (the native
    transport decodes it from a remembered layout): new contents, a re-registered region and
    an unregistered one must all show."""
    handle_in = shm.create_shared_memory_region("in2", "/tc_grpc_in2", 64)
    handle_out = shm.create_shared_memory_region("out2", "/tc_grpc_out2", 32)
    inputs, outputs = shm_tensors("in2", "out2")
    try:
        client.register_system_shared_memory("in2", "/tc_grpc_in2", 64)
        client.register_system_shared_memory("out2", "/tc_grpc_out2", 32)
        for step in range(3):  # add_sub here is an identity model: OUTPUTn = INPUTn
            a = np.arange(4, dtype=np.float32) + step
            shm.set_shared_memory_region(handle_in, [a, np.full(4, 2 * step, np.float32)])
            client.infer("add_sub", inputs, outputs=outputs)
            assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4])) == list(a)
            assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4], offset=16)) == \
                [2.0 * step] * 4
        # the same name now starts 32 bytes into the object
        client.unregister_system_shared_memory("in2")
        shm.set_shared_memory_region(handle_in, [np.full(4, 5, np.float32)], offset=32)
        shm.set_shared_memory_region(handle_in, [np.full(4, 1, np.float32)], offset=48)
        client.register_system_shared_memory("in2", "/tc_grpc_in2", 32, offset=32)
        client.infer("add_sub", inputs, outputs=outputs)
        assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4])) == [5.0] * 4
        assert list(shm.get_contents_as_numpy(handle_out, np.float32, [4], offset=16)) == \
            [1.0] * 4
        client.unregister_system_shared_memory("in2")
        err = raise_status(lambda: client.infer("add_sub", inputs, outputs=outputs))
        assert err.status() == "StatusCode.NOT_FOUND" and "in2" in err.message()
    finally:
        client.unregister_system_shared_memory()
        shm.destroy_shared_memory_region(handle_in)
        shm.destroy_shared_memory_region(handle_out)


def test_cuda_shared_memory_reaches_the_registry(client: grpcclient.InferenceServerClient) -> None:
    """No GPU in this server: registration is refused by the CUDA registry with its reason.

    tritonclient sends the base64 text that ``cudashm.get_raw_handle`` gives, decoded: the
    server receives the 64 raw bytes of the cudaIpcMemHandle_t."""
    err = raise_status(lambda: client.register_cuda_shared_memory(
        "g", base64.b64encode(b"\x01" * 64), 0, 64))
    assert err.status() == "StatusCode.UNIMPLEMENTED"
    assert "GPU" in err.message() or "cupy" in err.message()
    err = raise_status(lambda: client.register_cuda_shared_memory(
        "g", base64.b64encode(b"\x01" * 3), 0, 64))
    assert err.status() == "StatusCode.INVALID_ARGUMENT" and "64 bytes" in err.message()
    assert client.get_cuda_shared_memory_status(as_json=True) == {}
    client.unregister_cuda_shared_memory()


# --- trace and log settings --------------------------------------------------------------------


def test_trace_settings_global_and_per_model(client: grpcclient.InferenceServerClient) -> None:
    settings = client.get_trace_settings(as_json=True)["settings"]
    assert settings["trace_level"]["value"] == ["OFF"]
    assert settings["trace_rate"]["value"] == ["1000"]
    updated = client.update_trace_settings("add_sub", {"trace_rate": "7",
                                                       "trace_level": ["TIMESTAMPS"]},
                                           as_json=True)["settings"]
    assert updated["trace_rate"]["value"] == ["7"]
    assert updated["trace_level"]["value"] == ["TIMESTAMPS"]
    assert client.get_trace_settings(as_json=True)["settings"]["trace_rate"]["value"] == ["1000"]
    cleared = client.update_trace_settings("add_sub", {"trace_rate": None}, as_json=True)
    assert cleared["settings"]["trace_rate"]["value"] == ["1000"]
    err = raise_status(lambda: client.update_trace_settings(settings={"trace_level": ["LOUD"]}))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    err = raise_status(lambda: client.get_trace_settings("no_such_model"))
    assert err.status() == "StatusCode.NOT_FOUND"


def test_log_settings(client: grpcclient.InferenceServerClient) -> None:
    settings = client.get_log_settings(as_json=True)["settings"]
    assert settings["log_info"] == {"bool_param": True}
    assert settings["log_verbose_level"] == {"uint32_param": 0}
    updated = client.update_log_settings({"log_verbose_level": 1, "log_info": True},
                                         as_json=True)["settings"]
    assert updated["log_verbose_level"] == {"uint32_param": 1}
    client.update_log_settings({"log_verbose_level": 0})
    err = raise_status(lambda: client.update_log_settings({"log_format": "fancy"}))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"


# --- restricted protocols and client shm off ----------------------------------------------------


def test_restricted_protocol_needs_the_header(tmp_path: Path) -> None:
    proc = start_server(tmp_path, "--grpc-restricted-protocol=inference,model-config:key=s3")
    try:
        c = grpcclient.InferenceServerClient(proc.grpc_url)
        inputs = [infer_input("INPUT0", DATA["FP32"], "FP32")]
        for headers in (None, {"key": "s3"}, {"triton-grpc-protocol-key": "wrong"}):
            err = raise_status(lambda: c.infer("identity_fp32", inputs, headers=headers))
            assert err.status() == "StatusCode.UNAVAILABLE"
            assert "triton-grpc-protocol-key" in err.message()
        allowed = {"triton-grpc-protocol-key": "s3"}
        assert c.infer("identity_fp32", inputs, headers=allowed)
        assert c.get_model_config("identity_fp32", headers=allowed)
        assert c.get_model_metadata("identity_fp32")  # metadata is not restricted
        err = raise_status(lambda: c.load_model("never_existed"))
        assert err.status() in ("StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND",
                                "StatusCode.UNAVAILABLE", "StatusCode.INTERNAL")
        assert "never_existed" in err.message()
        c.close()
    finally:
        assert proc.stop() == 0


def test_client_shm_is_refused_unless_allowed(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    from grpc_support import identity, write

    write(repo, "identity_fp32", identity("identity_fp32", "TYPE_FP32"))
    with ServerProcess(repo, log_dir=tmp_path) as proc:
        c = grpcclient.InferenceServerClient(proc.grpc_url)
        err = raise_status(lambda: c.register_system_shared_memory("r", "/tc_x", 8))
        assert err.status() == "StatusCode.UNIMPLEMENTED"
        assert "--allow-client-shm=true" in err.message()
        # an infer naming a region says so too (as HTTP's), for an input and for an output
        shm_input = grpcclient.InferInput("INPUT0", [4], "FP32")
        shm_input.set_shared_memory("r", 16)
        shm_output = grpcclient.InferRequestedOutput("OUTPUT0")
        shm_output.set_shared_memory("r", 16)
        plain = [infer_input("INPUT0", DATA["FP32"], "FP32")]
        for inputs, outputs in (([shm_input], None), (plain, [shm_output])):
            err = raise_status(lambda: c.infer("identity_fp32", inputs, outputs=outputs))
            assert err.status() == "StatusCode.UNIMPLEMENTED"
            assert "--allow-client-shm=true" in err.message()
        assert c.infer("identity_fp32", plain).as_numpy("OUTPUT0").tolist() == \
            DATA["FP32"].tolist()
        c.close()
