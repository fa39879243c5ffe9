"""The stub's side of tensors, in-process: a response's outputs share one allocation of the
output arena (released once by the server), inputs become views of the input arena, and the
pb_utils shortcuts behave as the general paths do.

The last tests run real stubs: every response of every kind releases its allocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritoncore.options import ServerOptions
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor as CoreTensor
from tritoncore_python.stub import pb_utils as pb
from tritoncore_python.stub.arena import ALIGN, Allocator, Arena, create_fd
from tritoncore_python.stub.channel import BlockingChannel
from tritoncore_python.stub.runner import Runtime
from tritoncore_python.stub.wire import Response, from_bytes

MODELS = Path(__file__).parent / "models"
SIZE = 4096


@contextlib.contextmanager
def stub_runtime(size: int = SIZE) -> Iterator[tuple[Runtime, socket.socket]]:
    """A stub's Runtime over real arenas, and the server's end of its channel."""
    ours, theirs = socket.socketpair()
    rt = Runtime(BlockingChannel(ours), Arena(create_fd("tc_test_in_", size)),
                 Allocator(Arena(create_fd("tc_test_out_", size)), size))
    try:
        yield rt, theirs
    finally:
        rt.loop.close()
        ours.close()
        theirs.close()
        rt.inputs.close()
        rt.outputs.arena.close()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with stub_runtime() as (rt, _):
        previous, pb._RUNTIME = pb._RUNTIME, rt
        try:
            yield rt
        finally:
            pb._RUNTIME = previous


def copied_out(rt: Runtime, body: Response) -> dict[str, np.ndarray]:
    """What the server makes of a response body (backend.py's _response)."""
    view = rt.outputs.arena.view
    return {name: CoreTensor.from_buffer(name, datatype, tuple(shape),
                                         bytes(view[offset : offset + nbytes])).as_numpy()
            for name, datatype, shape, offset, nbytes in body[0]}


def assert_empty(rt: Runtime) -> None:
    assert rt.outputs.used == {}
    assert rt.outputs.free_list == [(0, rt.outputs.arena.size)]


def test_outputs_of_every_kind_share_one_allocation(runtime: Runtime) -> None:
    grid = np.arange(24, dtype=np.float64).reshape(4, 6)
    arrays = {
        "F32": np.array([[1.5, -2], [3, 4e30]], np.float32),
        "TEXT": np.array([b"", "h\u00e9llo", b"\x00\xff"], dtype=np.object_),
        "EMPTY": np.zeros((0, 4), np.float32),
        "BOOL": np.array([True, False, True]),
        "BE": np.array([1, -2, 1 << 30], dtype=">i4"),
        "STRIDED": grid[:, ::2],
        "FP16": np.array([0.5, -1], np.float16),
        "SCALAR": np.array(7, np.int64),
        "UNICODE": np.array(["ab", "c"]),
    }
    tensors = [pb.Tensor(name, a) for name, a in arrays.items()]
    tensors.append(pb.Tensor("BF16", np.array([0x3F80, 0xC000], np.uint16), "BF16"))
    body = runtime.encode_response(pb.InferenceResponse(tensors))
    assert body[2:] == (None, None)  # no error, no parameters
    assert list(runtime.outputs.used) == [body[1]]  # one allocation for all of them
    got = copied_out(runtime, body)
    assert got["F32"].tolist() == arrays["F32"].tolist()
    assert got["TEXT"].tolist() == [b"", "h\u00e9llo".encode(), b"\x00\xff"]
    assert got["EMPTY"].shape == (0, 4)
    assert got["BOOL"].tolist() == [True, False, True]
    assert got["BE"].tolist() == [1, -2, 1 << 30]
    assert got["STRIDED"].tolist() == grid[:, ::2].tolist()
    assert got["FP16"].tolist() == [0.5, -1]
    assert got["SCALAR"].shape == () and int(got["SCALAR"]) == 7
    assert got["UNICODE"].tolist() == [b"ab", b"c"]
    assert got["BF16"].tolist() == [0x3F80, 0xC000]
    assert [d[1] for d in body[0]] == ["FP32", "BYTES", "FP32", "BOOL", "INT32", "FP64",
                                               "FP16", "INT64", "BYTES", "BF16"]
    assert all(d[3] % ALIGN == 0 for d in body[0])
    runtime.free([body[1]])
    assert_empty(runtime)


def test_outputs_without_bytes_take_no_allocation(runtime: Runtime) -> None:
    body = runtime.encode_response(pb.InferenceResponse([
        pb.Tensor("A", np.zeros((0,), np.float32)), pb.Tensor("B", np.array([], np.object_))]))
    assert body == ([("A", "FP32", (0,), 0, 0), ("B", "BYTES", (0,), 0, 0)], None, None, None)
    assert copied_out(runtime, body)["B"].shape == (0,)
    body = runtime.encode_response(pb.InferenceResponse([], error="failed"))
    assert body == ([], None, (pb.TritonError.INTERNAL, "failed"), None)
    assert_empty(runtime)


def test_a_bad_output_is_the_response_error_and_allocates_nothing(runtime: Runtime) -> None:
    body = runtime.encode_response(pb.InferenceResponse(
        [pb.Tensor("A", np.ones(3, np.float32)), np.ones(3)]))  # type: ignore[list-item]
    message = "AttributeError: 'numpy.ndarray' object has no attribute 'datatype'"
    assert body == ((), None, (pb.TritonError.INTERNAL, message), None)
    assert runtime.encode_response("nope") == ((), None, (
        pb.TritonError.INTERNAL, "expected an InferenceResponse, got str"), None)
    assert_empty(runtime)


def test_outputs_grow_the_arena(runtime: Runtime) -> None:
    big = np.arange(3 * SIZE, dtype=np.float32)
    body = runtime.encode_response(pb.InferenceResponse(
        [pb.Tensor("SMALL", np.ones(2, np.int8)), pb.Tensor("BIG", big)]))
    assert runtime.outputs.arena.size > SIZE
    runtime.outputs.arena.ensure(runtime.outputs.arena.size)
    assert np.array_equal(copied_out(runtime, body)["BIG"], big)
    runtime.free([body[1]])
    assert_empty(runtime)


_DTYPES = st.sampled_from([np.bool_, np.uint8, np.int16, np.uint32, np.int64, np.float16,
                           np.float32, np.float64, ">f8", "<u2"])
_FIXED = st.builds(lambda a, t: a.T if t else a,
                   hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                        max_side=40)),
                   st.booleans())
_TEXT = hnp.arrays(np.object_, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0,
                                                max_side=5),
                   elements=st.binary(max_size=300))


@settings(max_examples=60, deadline=None)
@given(responses=st.lists(st.lists(st.one_of(_FIXED, _TEXT), max_size=5), min_size=1,
                          max_size=6),
       order=st.randoms(use_true_random=False))
def test_responses_round_trip_and_the_arena_empties(responses: list[list[np.ndarray]],
                                                    order: Any) -> None:
    with stub_runtime(256) as (rt, _):
        bodies = []
        for arrays in responses:
            body = rt.encode_response(pb.InferenceResponse(
                [pb.Tensor(f"T{i}", a) for i, a in enumerate(arrays)]))
            assert body[2] is None
            bodies.append((arrays, body))
        rt.outputs.arena.ensure(rt.outputs.arena.size)
        spans = []
        for arrays, body in bodies:  # all alive at once: exact, and never overlapping
            got = copied_out(rt, body)
            for i, a in enumerate(arrays):
                assert got[f"T{i}"].shape == a.shape
                if a.dtype == np.object_:
                    assert got[f"T{i}"].tolist() == a.tolist()
                else:  # bit for bit (NaNs included), in native order
                    native = a.dtype.newbyteorder("=")
                    assert got[f"T{i}"].astype(native).tobytes() == a.astype(native).tobytes()
            spans += [(d[3], d[3] + d[4]) for d in body[0] if d[4]]
        spans.sort()
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
        allocs = [body[1] for _, body in bodies if body[1] is not None]
        assert len(rt.outputs.used) == len(allocs)
        order.shuffle(allocs)
        for offset in allocs:
            rt.free([offset])
        assert_empty(rt)


def test_inputs_are_views_of_the_arena(runtime: Runtime) -> None:
    view = runtime.inputs.view
    a = np.array([[1, 2, 3], [4, 5, 6]], np.int16)
    view[64 : 64 + a.nbytes] = a.tobytes()
    text = b"\x02\x00\x00\x00hi\x00\x00\x00\x00"
    view[128 : 128 + len(text)] = text
    descriptors = [("A", "INT16", (2, 3), 64, 12, None), ("T", "BYTES", [2], 128, 10, None),
                   ("E", "FP32", (0, 2), 0, 0, None)]
    a_in, t_in, e_in = runtime.read_tensors(descriptors)
    assert a_in.name() == "A" and a_in.triton_dtype() == pb.TYPE_INT16
    assert a_in.datatype == "INT16" and a_in.shape() == [2, 3]
    assert a_in.as_numpy().tolist() == a.tolist()
    assert a_in.as_numpy().flags.writeable
    view[64:66] = np.int16(-9).tobytes()  # a view, not a copy
    assert a_in.as_numpy()[0, 0] == -9
    assert t_in.as_numpy().tolist() == [b"hi", b""] and t_in.datatype == "BYTES"
    assert e_in.as_numpy().shape == (0, 2)
    assert pb.get_input_tensor_by_name(pb.InferenceRequest(inputs=[a_in, t_in]), "T") is t_in
    assert pb.get_input_tensor_by_name(pb.InferenceRequest(inputs=[a_in]), "T") is None


@pytest.mark.parametrize("descriptor", [
    ("A", "FP32", (4,), 0, 8, None),  # fewer bytes than the shape needs
    ("A", "FP32", (2,), 0, 12, None),  # more
    ("A", "FP32", (-1, 2), 0, 8, None),
    ("A", "FP32", (4,), SIZE - 8, 16, None),  # past the end of the arena
    ("A", "FP99", (4,), 0, 16, None),
])
def test_inconsistent_input_descriptors_fail_as_from_bytes_does(
        runtime: Runtime, descriptor: tuple[Any, ...]) -> None:
    _, datatype, shape, offset, nbytes, _ = descriptor
    try:
        expected: Any = from_bytes(runtime.inputs.view[offset : offset + nbytes], datatype, shape)
    except Exception as exc:  # noqa: BLE001 - the error to compare with
        with pytest.raises(type(exc)) as got:
            runtime.read_tensors([descriptor])
        assert str(got.value) == str(exc)
    else:
        assert runtime.read_tensors([descriptor])[0].as_numpy().tolist() == expected.tolist()


def test_requests_from_the_wire_match_constructed_ones() -> None:
    inputs = [pb.Tensor("X", np.ones(2, np.float32))]
    entry = (7, "r1", [], ["B", "A"], 3, 1, 50, {"k": 1})  # an EXECUTE's request (wire.py)
    ref = pb.InferenceRequest("m", inputs, ["B", "A"], correlation_id=3, request_id="r1",
                              flags=1, timeout=50, parameters={"k": 1})
    ref._rid = 7
    fast = pb.InferenceRequest._received("m", inputs, entry, ["B", "A"])
    odd = pb.InferenceRequest._received("m", inputs, (*entry[:7], '{"k":1}'), ("B", "A"))
    assert vars(fast) == vars(ref) and vars(odd) == vars(ref)
    for request in (fast, odd):
        assert request.requested_output_names() == {"A", "B"}
        assert request.parameters() == '{"k":1}'
        assert request.get_response_sender()._rid == 7


@pytest.mark.parametrize("array", [
    np.ones(3, np.float32), np.ones(3, ">f4"), np.array(["a"]), np.array([b"a"]),
    np.array([1], np.uint16), np.array(True), np.ones(2, np.complex64),
    np.ones(2, "datetime64[s]"), np.ma.masked_array([1, 2], dtype=np.int8),
])
def test_tensor_types_match_dtypes_from_numpy(array: Any) -> None:
    from tritoncore import dtypes

    data = np.asarray(array)
    try:
        expected = dtypes.from_numpy(data.dtype)
    except Exception as exc:  # noqa: BLE001 - the error to compare with
        with pytest.raises(type(exc)) as got:
            pb.Tensor("t", array)
        assert str(got.value) == str(exc)
        return
    tensor = pb.Tensor("t", array)
    assert tensor.triton_dtype() == expected.code and tensor.datatype == expected.name
    assert type(tensor.as_numpy()) is np.ndarray
    assert tensor.as_numpy().dtype == (np.object_ if expected.is_bytes else data.dtype)


# -- real stubs -------------------------------------------------------------------------------

@pytest.mark.parametrize("decoupled", [False, True])
def test_every_response_releases_its_allocation(tmp_path: Path, decoupled: bool) -> None:
    shutil.copytree(MODELS / "outputs_mix", tmp_path / "outputs_mix")
    if decoupled:
        config = tmp_path / "outputs_mix" / "config.pbtxt"
        config.write_text(config.read_text() + "model_transaction_policy { decoupled: true }\n")

    async def go() -> None:
        server = Server(ServerOptions(model_repositories=[tmp_path], model_control_mode="explicit",
                                      load_models=["outputs_mix"], exit_on_error=False,
                                      allow_http=False, allow_grpc=False, allow_metrics=False),
                        gpus=0)
        await server.start()
        try:
            for n in (3, 0, 1, 5, 2):
                request = InferenceRequest("outputs_mix", {"N": CoreTensor.from_numpy(
                    "N", np.array([n], np.int32))})
                if decoupled:
                    got = [r async for r in server.infer_stream(request)]
                    assert len(got) == 2
                else:
                    got = [await server.infer(request)]
                for response in got:
                    outs = {t.name: t.as_numpy() for t in response.outputs}
                    assert outs["F32"].tolist() == (np.arange(n * 3).reshape(n, 3) / 4).tolist()
                    assert outs["TEXT"].tolist() == [b"x" * i for i in range(n)]
                    assert outs["EMPTY"].shape == (0, 4)
                    assert outs["BE"].tolist() == list(range(-2, n - 2))
                    assert outs["STRIDED"].tolist() == [float(2 * i) for i in range(n)]
                    # the previous request's responses were released before this one ran
                    assert outs["USED"].tolist() == [0]
        finally:
            await server.stop()

    asyncio.run(go())
