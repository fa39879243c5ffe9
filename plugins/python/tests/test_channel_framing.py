"""The control channel's framing (4-byte length, then a pickled dict): whatever way the stream
of bytes is cut, the decoder yields exactly the messages that were encoded, in order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tritoncore_python.stub.channel import HEADER, Decoder, encode

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
MESSAGES = st.lists(st.dictionaries(st.text(max_size=8), VALUES, max_size=5), max_size=8)


@settings(max_examples=300, deadline=None)
@given(messages=MESSAGES, data=st.data())
def test_any_cut_of_the_stream_decodes_to_the_messages(messages: list[dict[str, Any]],
                                                       data: st.DataObject) -> None:
    wire = b"".join(encode(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    decoder = Decoder()
    got: list[dict[str, Any]] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += decoder.feed(wire[a:b])
    assert got == messages
    assert not decoder.buffer  # nothing left over


@given(message=st.dictionaries(st.text(max_size=8), VALUES, max_size=5))
def test_an_incomplete_message_waits_for_the_rest(message: dict[str, Any]) -> None:
    wire = encode(message)  # a pickle is never shorter than 2 bytes
    decoder = Decoder()
    assert decoder.feed(wire[: HEADER.size]) == []
    assert decoder.feed(wire[HEADER.size : -1]) == []
    assert decoder.feed(wire[-1:]) == [message]
