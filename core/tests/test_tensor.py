"""Tensor codecs: zero-copy views of wire bytes, BYTES length prefixes, size checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritoncore import dtypes
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.tensor import Tensor, deserialize_bytes, serialize_bytes

FIXED = [t for t in dtypes.TABLE if not t.is_bytes]


@given(st.lists(st.binary(max_size=40), max_size=30))
def test_bytes_round_trip(items: list[bytes]) -> None:
    array = np.array(items, dtype=np.object_)
    wire = serialize_bytes(array)
    assert len(wire) == sum(4 + len(i) for i in items)
    back = deserialize_bytes(wire, len(items))
    assert list(back) == items


@given(st.binary(max_size=64), st.integers(0, 8))
def test_bytes_decoder_never_crashes(garbage: bytes, count: int) -> None:
    try:
        out = deserialize_bytes(garbage, count)
    except TritonError as exc:
        assert exc.code is ErrorCode.INVALID_ARG
    else:
        assert serialize_bytes(out) == garbage


def test_bytes_with_embedded_zero_bytes() -> None:
    wire = serialize_bytes(np.array([b"a\x00b", b"", "\u00e9"], dtype=np.object_))
    assert wire == b"\x03\x00\x00\x00a\x00b" + b"\x00\x00\x00\x00" + b"\x02\x00\x00\x00\xc3\xa9"
    assert list(deserialize_bytes(wire, 3)) == [b"a\x00b", b"", "\u00e9".encode()]


@pytest.mark.parametrize("dt", FIXED, ids=lambda t: t.name)
def test_from_buffer_is_a_view(dt: dtypes.DataType) -> None:
    raw = bytearray(range(6 * dt.byte_size))
    tensor = Tensor.from_buffer("X", dt.name, (2, 3), raw)
    array = tensor.as_numpy()
    assert array.shape == (2, 3)
    assert np.shares_memory(array, np.frombuffer(raw, dtype=np.uint8))
    assert bytes(tensor.to_wire()) == bytes(raw)
    assert tensor.byte_size == len(raw)


def test_from_buffer_size_mismatch_says_what_is_wrong() -> None:
    with pytest.raises(TritonError) as info:
        Tensor.from_buffer("INPUT0", "FP32", (2, 2), b"\x00" * 12)
    assert info.value.code is ErrorCode.INVALID_ARG
    assert info.value.message == "input 'INPUT0': FP32[2, 2] needs 16 bytes, got 12"


def test_bytes_tensor_rejects_trailing_bytes() -> None:
    with pytest.raises(TritonError, match="3 bytes left after 1 BYTES elements"):
        Tensor.from_buffer("S", "BYTES", (1,), b"\x01\x00\x00\x00xabc")


def test_from_numpy_maps_str_to_bytes_and_keeps_views() -> None:
    t = Tensor.from_numpy("S", np.array(["ab", "c"]))
    assert t.datatype == "BYTES" and list(t.as_numpy()) == [b"ab", b"c"]
    a = np.arange(4, dtype=np.int64)
    t2 = Tensor.from_numpy("I", a)
    assert t2.datatype == "INT64" and t2.as_numpy() is a
    assert t2.to_dlpack() is not None


def test_big_endian_arrays_go_on_the_wire_little_endian() -> None:
    a = np.array([1, 2], dtype=">i4")
    assert bytes(Tensor.from_numpy("I", a).to_wire()) == b"\x01\x00\x00\x00\x02\x00\x00\x00"


def test_bf16_is_carried_as_raw_bits() -> None:
    t = Tensor.from_buffer("B", "BF16", (2,), b"\x80\x3f\x00\x40")  # 1.0, 2.0 in bfloat16
    assert t.as_numpy().dtype == np.uint16
    assert list(t.as_numpy()) == [0x3F80, 0x4000]


def test_dtype_table_names() -> None:
    assert dtypes.by_config_name("TYPE_STRING").name == "BYTES"
    assert dtypes.by_name("BF16").config_name == "TYPE_BF16"
    assert dtypes.from_numpy(np.dtype("<f2")).name == "FP16"
    with pytest.raises(TritonError, match="unknown datatype 'FP8'"):
        dtypes.by_name("FP8")


@given(st.sampled_from(FIXED), st.lists(st.integers(0, 4), max_size=3), st.data())
def test_from_buffer_keeps_its_wire_bytes_and_views_them_lazily(
        dt: dtypes.DataType, shape: list[int], data: st.DataObject) -> None:
    wire = data.draw(st.binary(min_size=dt.byte_size * int(np.prod(shape)),
                               max_size=dt.byte_size * int(np.prod(shape))))
    body = memoryview(b"head" + wire)[4:]
    tensor = Tensor.from_buffer("x", dt.name, tuple(shape), body)
    assert tensor.to_wire() is body  # handed out as it came, no copy
    array = tensor.data
    assert array is tensor.data  # made once
    assert array.shape == tuple(shape) and array.tobytes() == wire
    assert np.shares_memory(array, np.frombuffer(body, np.uint8)) or not wire
    renamed = tensor.replaced(name="y")
    assert (renamed.name, renamed.to_wire(), renamed.data is array) == ("y", body, True)


@given(st.sampled_from(dtypes.TABLE), st.lists(st.integers(0, 4), max_size=3), st.data())
def test_from_wire_is_from_buffer_for_bytes_that_fit(dt: dtypes.DataType, shape: list[int],
                                                     data: st.DataObject) -> None:
    count = int(np.prod(shape))
    if dt.is_bytes:
        wire = serialize_bytes(np.array(data.draw(st.lists(st.binary(max_size=5), min_size=count,
                                                            max_size=count)), dtype=np.object_))
    else:
        wire = data.draw(st.binary(min_size=dt.byte_size * count, max_size=dt.byte_size * count))
    body = memoryview(b"head" + wire)[4:]
    fast = Tensor.from_wire("x", dt.name, tuple(shape), body)
    slow = Tensor.from_buffer("x", dt.name, tuple(shape), body)
    assert (fast.name, fast.datatype, fast.shape, fast.memory) == \
        (slow.name, slow.datatype, slow.shape, slow.memory)
    assert bytes(fast.to_wire()) == bytes(slow.to_wire()) == wire
    assert fast.data.shape == slow.data.shape == tuple(shape)
    if dt.is_bytes:
        assert fast.data.tolist() == slow.data.tolist()
    else:  # the same bytes (NaN is not equal to itself)
        assert fast.data.tobytes() == slow.data.tobytes() == wire
        assert fast.to_wire() is body  # no copy


def test_assigning_data_drops_the_wire_bytes() -> None:
    tensor = Tensor.from_buffer("x", "INT32", (2,), b"\x01\0\0\0\x02\0\0\0")
    tensor.data = np.array([7, 8], dtype=np.int32)
    assert bytes(tensor.to_wire()) == b"\x07\0\0\0\x08\0\0\0"
    assert tensor.replaced(data=np.array([9, 9], np.int32)).as_numpy().tolist() == [9, 9]
    assert tensor.as_numpy().tolist() == [7, 8]


def test_from_buffer_of_a_strided_view_is_refused() -> None:
    strided = memoryview(bytes(32)).cast("I")[::2]
    with pytest.raises(BufferError):
        Tensor.from_buffer("x", "UINT32", (4,), strided)


def test_an_empty_multi_dimensional_array_goes_on_the_wire_as_no_bytes() -> None:
    assert bytes(Tensor.from_numpy("x", np.zeros((0, 3), np.int16)).to_wire()) == b""
    assert bytes(Tensor.from_numpy("x", np.ones((2, 0, 2), np.float32)).to_wire()) == b""


def test_from_buffer_takes_any_contiguous_buffer_empty_ones_too() -> None:
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = Tensor.from_buffer("x", "FP32", (3, 2), grid)
    assert tensor.as_numpy().tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert bytes(tensor.to_wire()) == grid.tobytes()
    empty = Tensor.from_buffer("x", "FP32", (0, 3), np.zeros((0, 3), np.float32))
    assert empty.as_numpy().shape == (0, 3) and bytes(empty.to_wire()) == b""
