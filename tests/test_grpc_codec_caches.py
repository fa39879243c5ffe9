"""The gRPC codec's caches: the layout of a ModelInferRequest whose inputs all sit in shared
memory (the same serialized request decodes from it to exactly what parsing it gives, the
regions looked up anew each time) and the head of a unary response (the same bytes as
serializing the whole message). Real POSIX shm regions and a real registry."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shm_registry import registry_server
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontends.grpc import codec
from tritoncore.protocol import grpc_service_pb2 as pb
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

SIZE = 256


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with registry_server(SIZE) as srv:
        yield srv


def shm_params(target: Any, offset: int, size: int, region: str = "r") -> None:
    target["shared_memory_region"].string_param = region
    target["shared_memory_offset"].int64_param = offset
    target["shared_memory_byte_size"].int64_param = size


def request(inputs: list[tuple[str, int, int]], outputs: list[tuple[str, int | None]],
            rid: str = "", params: dict[str, Any] | None = None) -> pb.ModelInferRequest:
    """A ModelInferRequest: INT8 inputs (name, elements, offset) in region 'r'; outputs
    (name, offset in 'r' or None for a plain output)."""
    msg = pb.ModelInferRequest(model_name="m", model_version="2", id=rid)
    for name, count, offset in inputs:
        t = msg.inputs.add(name=name, datatype="INT8", shape=[count])
        shm_params(t.parameters, offset, count)
    for name, at in outputs:
        o = msg.outputs.add(name=name)
        if at is not None:
            shm_params(o.parameters, at, 32)
    for key, value in (params or {}).items():
        codec.set_param(msg.parameters[key], value)
    return msg


def decode_twice(server: Any, msg: pb.ModelInferRequest) -> tuple[codec.Decoded, codec.Decoded]:
    """Parsed (and remembered), then from the remembered layout."""
    payload = msg.SerializeToString()
    codec.layouts.pop(payload, None)
    parsed = codec.decode_request(server, pb.ModelInferRequest.FromString(payload))
    codec.remember(payload, msg, parsed)
    return parsed, codec.layouts[payload].decode(server)


def summary(decoded: codec.Decoded) -> tuple[Any, ...]:
    r = decoded.request
    inputs = [(t.name, t.datatype, t.shape, t.shm_origin, bytes(t.to_wire()))
              for t in r.inputs.values()]
    return (r.model_name, r.model_version, r.id, r.priority, r.timeout_us, r.parameters,
            r.requested_outputs, r.output_parameters, inputs, decoded.outputs,
            decoded.empty_final)


def test_a_repeated_shm_request_decodes_from_its_layout_with_the_regions_contents(
        server: Any) -> None:
    msg = request([("A", 4, 0), ("B", 2, 8)], [("OUT", 64)], rid="req-3",
                  params={"priority": 2, "custom": "v", codec.EMPTY_FINAL: True})
    parsed, cached = decode_twice(server, msg)
    assert summary(parsed) == summary(cached)
    assert cached.request is not parsed.request
    r = cached.request
    assert (r.id, r.priority, r.parameters, r.model_version) == ("req-3", 2, {"custom": "v"}, 2)
    assert r.requested_outputs == ["OUT"] and cached.empty_final is True
    assert r.output_parameters["OUT"]["shared_memory_offset"] == 64
    assert bytes(r.inputs["A"].to_wire()) == bytes([0, 1, 2, 3])
    server.block.buf[8:10] = b"\x63\x64"  # the client writes new values: the next request sees them
    again = codec.layouts[msg.SerializeToString()].decode(server)
    assert bytes(again.request.inputs["B"].to_wire()) == b"\x63\x64"
    server.block.buf[8:10] = bytes([8, 9])


def test_a_cached_layout_looks_the_region_up_every_time(server: Any) -> None:
    msg = request([("A", 4, 0)], [])
    decode_twice(server, msg)
    layout = codec.layouts[msg.SerializeToString()]
    far = request([("A", 4, 6)], [])
    decode_twice(server, far)
    server.system_shm.unregister("r")
    try:
        with pytest.raises(TritonError) as err:
            layout.decode(server)
        assert err.value.code is ErrorCode.NOT_FOUND and "'r' is not registered" in err.value.message
        server.system_shm.register("r", server.key, 100, 8)  # elsewhere, smaller
        assert bytes(layout.decode(server).request.inputs["A"].to_wire()) == bytes([100, 101, 102, 103])
        with pytest.raises(TritonError) as err:  # the region no longer holds offset 6 + 4
            codec.layouts[far.SerializeToString()].decode(server)
        assert err.value.code is ErrorCode.INVALID_ARG and "outside" in err.value.message
    finally:
        server.system_shm.unregister("r")
        server.system_shm.register("r", server.key, 0, SIZE)


@pytest.mark.parametrize("msg", [
    request([], []),  # no inputs at all
    pb.ModelInferRequest(model_name="m", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="A", datatype="INT8", shape=[2])], raw_input_contents=[b"\x01\x02"]),
], ids=["no-inputs", "raw-contents"])
def test_requests_that_carry_their_data_are_not_remembered(server: Any, msg: Any) -> None:
    payload = msg.SerializeToString()
    codec.remember(payload, msg, codec.decode_request(server, msg))
    assert payload not in codec.layouts


def test_a_mixed_request_is_not_remembered(server: Any) -> None:
    msg = request([("A", 4, 0)], [])
    msg.inputs.add(name="B", datatype="INT8", shape=[1])
    msg.raw_input_contents.append(b"\x07")
    payload = msg.SerializeToString()
    decoded = codec.decode_request(server, msg)
    codec.remember(payload, msg, decoded)
    assert payload not in codec.layouts
    assert bytes(decoded.request.inputs["B"].to_wire()) == b"\x07"


NAMES = st.sampled_from(["A", "B", "INPUT0", "x y", "ü"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(NAMES, st.integers(0, 16), st.integers(0, SIZE - 16)), min_size=1,
                max_size=3, unique_by=lambda i: i[0]),
       st.lists(st.tuples(NAMES, st.none() | st.integers(0, SIZE - 8)), max_size=3,
                unique_by=lambda o: o[0]),
       st.text(max_size=4),
       st.dictionaries(st.sampled_from(["priority", "timeout", "custom", codec.EMPTY_FINAL]),
                       st.integers(0, 9), max_size=3))
def test_cached_and_parsed_decodes_agree(server: Any, inputs: list[tuple[str, int, int]],
                                         outputs: list[tuple[str, int | None]], rid: str,
                                         params: dict[str, int]) -> None:
    if codec.EMPTY_FINAL in params:
        params[codec.EMPTY_FINAL] = bool(params[codec.EMPTY_FINAL])
    parsed, cached = decode_twice(server, request(inputs, outputs, rid, params))
    assert summary(parsed) == summary(cached)


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=4), st.integers(1, 3),
       st.lists(st.tuples(NAMES, st.lists(st.integers(0, 3), max_size=2),
                          st.none() | st.integers(0, 3)), min_size=0, max_size=3,
                unique_by=lambda o: o[0]),
       st.booleans())
def test_a_unary_response_encodes_to_the_bytes_of_the_whole_message(
        server: Any, rid: str, version: int, outputs: list[tuple[str, list[int], int | None]],
        with_parameters: bool) -> None:
    """Outputs with raw contents or an shm place (slot n at offset 32n): the first encoding
    (kept) and the second (from the kept head) are the message's own serialization, and the
    shm outputs are in their regions each time."""
    msg = request([("A", 1, 0)], [(name, None if slot is None else 128 + 32 * slot)
                                  for name, _, slot in outputs], rid)
    decoded = codec.decode_request(server, msg)
    for fill in (1, 2):
        response = InferenceResponse(
            outputs=[Tensor.from_numpy(name, np.full(shape, fill, np.int16))
                     for name, shape, _ in outputs],
            parameters={"p": fill} if with_parameters else {})
        expected = codec.encode_response(server, decoded, response, version).SerializeToString()
        server.block.buf[128:SIZE] = bytes(SIZE - 128)
        assert codec.encode_unary(server, decoded, response, version) == expected
        for name, shape, slot in outputs:
            if slot is not None:
                size = 2 * int(np.prod(shape))
                at = 128 + 32 * slot
                assert bytes(server.block.buf[at:at + size]) == \
                    np.full(shape, fill, np.int16).tobytes()
        parsed = pb.ModelInferResponse.FromString(expected)
        assert (parsed.id, parsed.model_version) == (rid, str(version))


def test_a_classification_response_is_encoded_afresh(server: Any) -> None:
    msg = request([("A", 1, 0)], [("OUT", None)])
    msg.outputs[0].parameters["classification"].int64_param = 1
    decoded = codec.decode_request(server, msg)
    server.model = lambda name, version: SimpleNamespace(
        config=SimpleNamespace(max_batch_size=0, output=[]), ctx=SimpleNamespace(model_dir=""))
    for values in ([1.0, 5.0], [7.0, 2.0]):
        response = InferenceResponse(outputs=[Tensor.from_numpy("OUT", np.array(values,
                                                                               np.float32))])
        expected = codec.encode_response(server, decoded, response, 1).SerializeToString()
        assert codec.encode_unary(server, decoded, response, 1) == expected
        top = pb.ModelInferResponse.FromString(expected).raw_output_contents[0]
        assert str(max(values)).encode() in top
