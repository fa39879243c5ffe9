"""HTTP decode keeps the layout of request JSON whose tensors are all binary data or in shared
memory: a repeated header decodes from the cache to exactly what parsing it would give, the
body is still checked against it, and shared-memory places are looked up anew."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shm_registry import registry_server
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontends.http import infer_codec
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

LOADED = SimpleNamespace(version=3)
SERVER = SimpleNamespace(system_shm=SimpleNamespace(allowed=True))


def header(shapes: list[list[int]], **extra: object) -> bytes:
    doc = {"inputs": [{"name": f"IN{i}", "datatype": "FP32", "shape": shape,
                       "parameters": {"binary_data_size": 4 * int(np.prod(shape))}}
                      for i, shape in enumerate(shapes)],
           "outputs": [{"name": "OUT", "parameters": {"binary_data": True}}], **extra}
    return orjson.dumps(doc)


def decode(head: bytes, *arrays: np.ndarray) -> infer_codec.DecodedRequest:
    body = head + b"".join(a.astype(np.float32).tobytes() for a in arrays)
    return infer_codec.decode(SERVER, LOADED, "m", body, len(head))


def test_a_repeated_header_decodes_from_the_cache_with_its_own_data() -> None:
    head = header([[2]], id="req-7", parameters={"priority": 2, "custom": "v"})
    first = decode(head, np.array([1.0, 2.0]))
    assert head in infer_codec._layouts
    second = decode(head, np.array([5.0, 6.0]))
    for decoded, values in ((first, [1.0, 2.0]), (second, [5.0, 6.0])):
        request = decoded.request
        assert request.inputs["IN0"].as_numpy().tolist() == values
        assert (request.id, request.priority, request.parameters) == ("req-7", 2, {"custom": "v"})
        assert (request.model_version, request.requested_outputs) == (3, ["OUT"])
        assert list(decoded.outputs or ()) == ["OUT"]
    assert second.request is not first.request


@pytest.mark.parametrize(("extra", "message"), [
    (b"\0\0\0\0", "4 bytes of binary data follow the inputs unused"),
    (None, "runs past the end of the body"),
])
def test_the_body_is_checked_against_a_cached_layout(extra: bytes | None, message: str) -> None:
    head = header([[2]])
    decode(head, np.zeros(2))  # cached now
    body = head + np.zeros(2, np.float32).tobytes()
    body = body + extra if extra is not None else body[:-4]
    with pytest.raises(TritonError) as err:
        infer_codec.decode(SERVER, LOADED, "m", body, len(head))
    assert err.value.code is ErrorCode.INVALID_ARG and message in err.value.message


def test_a_header_with_json_data_is_never_cached() -> None:
    """The values are in the JSON itself, so a cached layout could not carry them."""
    head = orjson.dumps({"inputs": [
        {"name": "IN0", "datatype": "FP32", "shape": [1], "data": [1.5]},
        {"name": "IN1", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}]})
    for value in (2.5, 3.5):
        body = head + np.array([value], np.float32).tobytes()
        decoded = infer_codec.decode(SERVER, LOADED, "m", body, len(head))
        assert decoded.request.inputs["IN0"].as_numpy().tolist() == [1.5]
        assert decoded.request.inputs["IN1"].as_numpy().tolist() == [value]
    assert head not in infer_codec._layouts


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=0, max_size=3), min_size=1, max_size=3),
       st.integers(0, 2**32 - 1))
def test_cached_and_parsed_decodes_agree(shapes: list[list[int]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    head = header(shapes)
    infer_codec._layouts.pop(head, None)
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    parsed = decode(head, *arrays)
    cached = decode(head, *arrays)
    for decoded in (parsed, cached):
        got = decoded.request.inputs
        assert list(got) == [f"IN{i}" for i in range(len(shapes))]
        for i, array in enumerate(arrays):
            assert got[f"IN{i}"].shape == tuple(shapes[i])
            assert np.array_equal(got[f"IN{i}"].as_numpy(), array)


NAMES = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), min_size=1, max_size=6)


@settings(max_examples=60)
@given(st.text(max_size=5), st.lists(st.tuples(NAMES, st.lists(st.integers(0, 3), max_size=2)),
                                     min_size=1, max_size=3, unique_by=lambda o: o[0]),
       st.booleans())
def test_a_repeated_response_gets_the_json_encoding_it_would_give(
        request_id: str, outputs: list[tuple[str, list[int]]], binary: bool) -> None:
    decoded = infer_codec.DecodedRequest(InferenceRequest("m", {}, 3, id=request_id), None,
                                         binary)
    def response(fill: int) -> InferenceResponse:
        return InferenceResponse(outputs=[
            Tensor.from_numpy(name, np.full(shape, fill, np.int16)) for name, shape in outputs])
    first = infer_codec.encode(SERVER, LOADED, "m", decoded, response(1))
    second = infer_codec.encode(SERVER, LOADED, "m", decoded, response(2))
    fresh = infer_codec._encode(SERVER, LOADED, "m", decoded, response(2))
    assert second[0] == fresh[0] == first[0] if binary else second[0] == fresh[0]
    assert [bytes(p) for p in second[1]] == [bytes(p) for p in fresh[1]]
    if binary:
        assert [bytes(p) for p in second[1]] == [
            np.full(shape, 2, np.int16).tobytes() for _, shape in outputs]
    doc = orjson.loads(second[0])
    assert [o["name"] for o in doc["outputs"]] == [name for name, _ in outputs]
    assert doc.get("id", "") == request_id and doc["model_version"] == "3"


def test_a_response_with_parameters_is_encoded_afresh() -> None:
    decoded = infer_codec.DecodedRequest(InferenceRequest("m", {}, 3), None, True)
    out = [Tensor.from_numpy("OUT", np.arange(2, dtype=np.int32))]
    infer_codec.encode(SERVER, LOADED, "m", decoded, InferenceResponse(outputs=out))
    head, _ = infer_codec.encode(SERVER, LOADED, "m", decoded, InferenceResponse(
        outputs=out, parameters={"p": 1}))
    assert orjson.loads(head)["parameters"] == {"p": 1}


# --- inputs and outputs in shared memory (a real registry) ---------------------------------

SHM_SIZE = 256


@pytest.fixture(scope="module")
def shm_server() -> Iterator[Any]:
    with registry_server(SHM_SIZE) as srv:
        yield srv


def shm_header(inputs: list[tuple[str, int, int | None]], outputs: list[tuple[str, int | None]],
               **extra: object) -> bytes:
    """INT8 inputs (name, elements, offset in region 'r', or None: binary data in the body);
    outputs (name, offset in 'r' or None: binary data)."""
    def place(offset: int | None, size: int) -> dict[str, object]:
        if offset is None:
            return {"binary_data_size": size}
        return {"shared_memory_region": "r", "shared_memory_offset": offset,
                "shared_memory_byte_size": size}
    doc = {"inputs": [{"name": n, "datatype": "INT8", "shape": [count],
                       "parameters": place(at, count)} for n, count, at in inputs],
           "outputs": [{"name": n, "parameters": place(at, 32) if at is not None
                        else {"binary_data": True}} for n, at in outputs], **extra}
    return orjson.dumps(doc)


def shm_decode(server: Any, head: bytes, body: bytes = b"") -> infer_codec.DecodedRequest:
    whole = head + body
    return infer_codec.decode(server, LOADED, "m", whole, len(head) if body else None)


def summary(decoded: infer_codec.DecodedRequest) -> tuple[Any, ...]:
    r = decoded.request
    return (r.id, r.model_version, r.priority, r.parameters, r.requested_outputs,
            r.output_parameters, decoded.outputs, decoded.binary_default,
            [(t.name, t.datatype, t.shape, t.shm_origin, bytes(t.to_wire()))
             for t in r.inputs.values()])


def test_a_repeated_shm_request_decodes_from_its_layout_reading_the_region_anew(
        shm_server: Any) -> None:
    head = shm_header([("A", 4, 0), ("B", 2, 8)], [("OUT", 64)], id="r-1",
                      parameters={"priority": 1})
    infer_codec._layouts.pop(head, None)
    parsed = shm_decode(shm_server, head)
    assert head in infer_codec._layouts
    cached = shm_decode(shm_server, head)
    assert summary(parsed) == summary(cached) and cached.request is not parsed.request
    assert cached.request.output_parameters["OUT"]["shared_memory_offset"] == 64
    shm_server.block.buf[8:10] = b"\x63\x64"  # the client writes new values
    assert bytes(shm_decode(shm_server, head).request.inputs["B"].to_wire()) == b"\x63\x64"
    shm_server.block.buf[8:10] = bytes([8, 9])
    shm_server.system_shm.unregister("r")
    try:
        with pytest.raises(TritonError) as err:
            shm_decode(shm_server, head)
        assert err.value.code is ErrorCode.NOT_FOUND and "'r' is not registered" in err.value.message
        shm_server.system_shm.register("r", shm_server.key, 100, 16)  # elsewhere now
        assert bytes(shm_decode(shm_server, head).request.inputs["A"].to_wire()) == \
            bytes([100, 101, 102, 103])
    finally:
        shm_server.system_shm.unregister("r")
        shm_server.system_shm.register("r", shm_server.key, 0, SHM_SIZE)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 8),
                          st.none() | st.integers(0, SHM_SIZE - 8)),
                min_size=1, max_size=3, unique_by=lambda i: i[0]),
       st.lists(st.tuples(st.sampled_from(["X", "Y"]), st.none() | st.integers(0, 100)),
                max_size=2, unique_by=lambda o: o[0]),
       st.integers(0, 2**32 - 1))
def test_cached_and_parsed_shm_decodes_agree(shm_server: Any,
                                             inputs: list[tuple[str, int, int | None]],
                                             outputs: list[tuple[str, int | None]],
                                             seed: int) -> None:
    head = shm_header(inputs, outputs)
    body = np.random.default_rng(seed).integers(
        -128, 127, sum(n for _, n, at in inputs if at is None), dtype=np.int8).tobytes()
    infer_codec._layouts.pop(head, None)
    parsed = shm_decode(shm_server, head, body)
    assert head in infer_codec._layouts
    cached = shm_decode(shm_server, head, body)
    assert summary(parsed) == summary(cached)
