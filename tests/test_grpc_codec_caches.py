"""The gRPC codec's caches: the layout of a ModelInferRequest kept by the bytes before its raw
contents (a request with the same head decodes from it to exactly what parsing it gives, its
own raw bytes read, shm regions looked up anew each time) and the head of a unary response
(the same bytes as serializing the whole message). Real POSIX shm regions, a real registry."""

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


def request(inputs: list[tuple[str, int, int | None]], outputs: list[tuple[str, int | None]],
            rid: str = "", params: dict[str, Any] | None = None) -> pb.ModelInferRequest:
    """A ModelInferRequest: INT8 inputs (name, elements, offset in region 'r', or None: raw
    contents holding 7, 8, ...); outputs (name, offset in 'r' or None for a plain output)."""
    msg = pb.ModelInferRequest(model_name="m", model_version="2", id=rid)
    for name, count, offset in inputs:
        t = msg.inputs.add(name=name, datatype="INT8", shape=[count])
        if offset is None:
            msg.raw_input_contents.append(bytes(range(7, 7 + count)))
        else:
            shm_params(t.parameters, offset, count)
    for name, at in outputs:
        o = msg.outputs.add(name=name)
        if at is not None:
            shm_params(o.parameters, at, 32)
    for key, value in (params or {}).items():
        codec.set_param(msg.parameters[key], value)
    return msg


def forget() -> None:
    codec._layouts.clear()
    codec._head_sizes.clear()


def decode_twice(server: Any, msg: pb.ModelInferRequest) -> tuple[codec.Decoded, codec.Decoded]:
    """Parsed (and remembered), then from the kept layout."""
    payload = msg.SerializeToString()
    forget()
    parsed = codec.decode_request(server, pb.ModelInferRequest.FromString(payload))
    codec.remember(payload, msg, parsed)
    cached = codec.decode_cached(server, payload)
    assert cached is not None
    # the layout a model's admission checks once; a parsed request has none
    assert parsed.request.layout is None and cached.request.layout is not None
    return parsed, cached


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
    again = codec.decode_cached(server, msg.SerializeToString())
    assert again is not None and bytes(again.request.inputs["B"].to_wire()) == b"\x63\x64"
    server.block.buf[8:10] = bytes([8, 9])


def test_a_cached_layout_looks_the_region_up_every_time(server: Any) -> None:
    near, far = request([("A", 4, 0)], []), request([("A", 4, 6)], [])
    forget()
    for msg in (near, far):
        codec.remember(msg.SerializeToString(), msg, codec.decode_request(server, msg))
    server.system_shm.unregister("r")
    try:
        with pytest.raises(TritonError) as err:
            codec.decode_cached(server, near.SerializeToString())
        assert err.value.code is ErrorCode.NOT_FOUND and "'r' is not registered" in err.value.message
        server.system_shm.register("r", server.key, 100, 8)  # elsewhere, smaller
        again = codec.decode_cached(server, near.SerializeToString())
        assert again is not None
        assert bytes(again.request.inputs["A"].to_wire()) == bytes([100, 101, 102, 103])
        with pytest.raises(TritonError) as err:  # the region no longer holds offset 6 + 4
            codec.decode_cached(server, far.SerializeToString())
        assert err.value.code is ErrorCode.INVALID_ARG and "outside" in err.value.message
    finally:
        server.system_shm.unregister("r")
        server.system_shm.register("r", server.key, 0, SIZE)


def test_raw_requests_share_a_layout_by_their_head_and_keep_their_own_bytes(
        server: Any) -> None:
    first = request([("A", 2, None), ("S", 2, 4), ("B", 3, None)], [("OUT", None)], rid="x")
    parsed, cached = decode_twice(server, first)
    assert summary(parsed) == summary(cached)
    other = request([("A", 2, None), ("S", 2, 4), ("B", 3, None)], [("OUT", None)], rid="x")
    other.raw_input_contents[0] = b"\xfe\xff"
    other.raw_input_contents[1] = b"\x01\x02\x03"
    decoded = codec.decode_cached(server, other.SerializeToString())
    assert decoded is not None and len(codec._layouts) == 1
    got = {n: bytes(t.to_wire()) for n, t in decoded.request.inputs.items()}
    assert got == {"A": b"\xfe\xff", "S": bytes([4, 5]), "B": b"\x01\x02\x03"}


@pytest.mark.parametrize("change", ["extra-raw", "missing-raw", "other-field-after", "short"])
def test_a_head_that_fits_with_a_tail_that_does_not_is_parsed_in_full(server: Any,
                                                                       change: str) -> None:
    """The same head followed by anything but exactly the layout's raw entries gets no
    decode from the layout (the full parse then answers, with its own errors)."""
    msg = request([("A", 2, None)], [])
    decode_twice(server, msg)
    payload = msg.SerializeToString()
    payload = {"extra-raw": payload + b"\x3a\x01\x09",
               "missing-raw": payload[:-4],  # the tag, the length and the 2 bytes
               "other-field-after": payload + b"\x1a\x01y",  # id again: 'y'
               "short": payload[:-1]}[change]
    assert codec.decode_cached(server, payload) is None


def test_a_large_request_is_decoded_from_a_small_ones_layout_but_not_remembered(
        server: Any) -> None:
    """BYTES[1]: the head does not depend on the element's length."""
    def bytes_request(element: bytes) -> pb.ModelInferRequest:
        msg = pb.ModelInferRequest(model_name="m")
        msg.inputs.add(name="T", datatype="BYTES", shape=[1])
        msg.raw_input_contents.append(len(element).to_bytes(4, "little") + element)
        return msg
    big = bytes_request(b"z" * codec.LAYOUT_MAX_PAYLOAD)
    forget()
    codec.remember(big.SerializeToString(), big, codec.decode_request(server, big))
    assert not codec._layouts
    decode_twice(server, bytes_request(b"small"))
    decoded = codec.decode_cached(server, big.SerializeToString())
    assert decoded is not None
    assert decoded.request.inputs["T"].as_numpy().tolist() == [b"z" * codec.LAYOUT_MAX_PAYLOAD]


@pytest.mark.parametrize("msg", [
    request([], []),  # no inputs at all
    pb.ModelInferRequest(model_name="m", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="A", datatype="INT32", shape=[1], contents=pb.InferTensorContents(
            int_contents=[5]))]),  # typed contents: the values are in the head
], ids=["no-inputs", "typed-contents"])
def test_requests_without_a_reusable_head_are_not_remembered(server: Any, msg: Any) -> None:
    forget()
    codec.remember(msg.SerializeToString(), msg, codec.decode_request(server, msg))
    assert not codec._layouts


def test_raw_contents_not_at_the_end_are_not_remembered(server: Any) -> None:
    msg = request([("A", 2, None)], [])
    payload = msg.SerializeToString() + pb.ModelInferRequest(id="late").SerializeToString()
    parsed = pb.ModelInferRequest.FromString(payload)
    forget()
    codec.remember(payload, parsed, codec.decode_request(server, parsed))
    assert not codec._layouts


def test_head_bytes_that_look_like_raw_contents_are_not_remembered(server: Any) -> None:
    """A raw entry written early and an id whose last bytes look like a raw entry: the tail
    has as many entries, of the same sizes, as the message, but not the same ones."""
    base = request([("A", 1, None), ("B", 1, None)], [])
    del base.raw_input_contents[:]
    payload = (base.SerializeToString() + b"\x3a\x01\x07"  # raw entry 1: 7
               + b"\x1a\x05xx\x3a\x01Z"  # id 'xx:\x01Z'
               + b"\x3a\x01\x08")  # raw entry 2: 8
    parsed = pb.ModelInferRequest.FromString(payload)
    assert list(parsed.raw_input_contents) == [b"\x07", b"\x08"]
    forget()
    codec.remember(payload, parsed, codec.decode_request(server, parsed))
    assert not codec._layouts


NAMES = st.sampled_from(["A", "B", "INPUT0", "x y", "ü"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(NAMES, st.integers(0, 16), st.none() | st.integers(0, SIZE - 16)),
                min_size=1, max_size=3, unique_by=lambda i: i[0]),
       st.lists(st.tuples(NAMES, st.none() | st.integers(0, SIZE - 8)), max_size=3,
                unique_by=lambda o: o[0]),
       st.text(max_size=4),
       st.dictionaries(st.sampled_from(["priority", "timeout", "custom", codec.EMPTY_FINAL]),
                       st.integers(0, 9), max_size=3))
def test_cached_and_parsed_decodes_agree(server: Any, inputs: list[tuple[str, int, int | None]],
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


@given(st.integers(0, (1 << 64) - 1), st.binary(max_size=4))
def test_varints_read_back_what_was_written(value: int, after: bytes) -> None:
    """The protobuf varint reader and writer agree; a varint cut short reads as None."""
    data = b"\x3a" + codec._varint(value) + after
    assert codec._read_varint(data, 1) == (value, len(data) - len(after))
    assert codec._read_varint(data[:len(data) - len(after) - 1], 1) is None
