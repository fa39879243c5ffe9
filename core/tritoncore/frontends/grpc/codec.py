"""ModelInferRequest -> InferenceRequest and InferenceResponse -> ModelInferResponse.

Tensors arrive either as ``raw_input_contents`` (one entry per input that has neither typed
``contents`` nor a shared-memory location, in input order, viewed without a copy), as typed
``contents``, or in a registered shared-memory region. Responses always carry
``raw_output_contents``, as Triton's do; an output written to shared memory keeps its slot
with empty bytes so that later outputs stay aligned with their index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritoncore.errors import TritonError, invalid_arg
from tritoncore.frontends.outputs import (
    OutputSpec,
    apply_kept,
    classified,
    output_spec,
    shm_destinations,
)
from tritoncore.frontends.request_params import apply_request_parameters
from tritoncore.frontends.shm_io import (
    ShmRef,
    input_from_shm,
    output_to_shm,
    shm_ref,
    want_on_device,
)
from tritoncore.protocol import grpc_service_pb2 as pb
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.server import Server
from tritoncore.tensor import Tensor, element_count

FINAL = "triton_final_response"
EMPTY_FINAL = "triton_enable_empty_final_response"
_INT64_MAX = (1 << 63) - 1

# datatype -> (InferTensorContents field, numpy dtype of the elements)
_TYPED: dict[str, tuple[str, Any]] = {
    "BOOL": ("bool_contents", np.bool_),
    "INT8": ("int_contents", np.int8),
    "INT16": ("int_contents", np.int16),
    "INT32": ("int_contents", np.int32),
    "INT64": ("int64_contents", np.int64),
    "UINT8": ("uint_contents", np.uint8),
    "UINT16": ("uint_contents", np.uint16),
    "UINT32": ("uint_contents", np.uint32),
    "UINT64": ("uint64_contents", np.uint64),
    "FP32": ("fp32_contents", np.float32),
    "FP64": ("fp64_contents", np.float64),
    "BYTES": ("bytes_contents", np.object_),
}


def parse_version(text: str) -> int:
    """A request's version string: "" is -1 (the policy's choice)."""
    if not text:
        return -1
    if not text.isdigit():
        raise invalid_arg(f"model version '{text}' is not a positive integer")
    return int(text)


def param_value(param: Any) -> Any:
    """The value set in an InferParameter / ModelRepositoryParameter (None if unset)."""
    kind = param.WhichOneof("parameter_choice")
    return getattr(param, kind) if kind else None


def params_dict(params: Any) -> dict[str, Any]:
    """A protobuf parameter map as a dict of values (by key, not ``items()``: protobuf's map
    container inherits a pure-Python ``items`` that costs twice as much)."""
    return {k: param_value(params[k]) for k in params}


def set_param(target: Any, value: Any) -> None:
    """Store a Python value in an InferParameter, choosing the field by type."""
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        if value > _INT64_MAX:
            target.uint64_param = value
        else:
            target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    else:
        target.string_param = str(value)


@dataclass
class Decoded:
    """A decoded request with what its response encoding needs."""

    request: InferenceRequest
    outputs: dict[str, OutputSpec]
    empty_final: bool = False


def _typed_input(name: str, datatype: str, shape: tuple[int, ...], contents: Any) -> Tensor:
    entry = _TYPED.get(datatype)
    if entry is None:
        raise invalid_arg(
            f"input '{name}': {datatype} data cannot be sent as typed contents; "
            "use raw_input_contents")
    field, dtype = entry
    values = getattr(contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise invalid_arg(
            f"input '{name}': {datatype}{list(shape)} needs {count} element(s) in "
            f"contents.{field}, got {len(values)}")
    array = np.array(list(values) if dtype is np.object_ else values, dtype=dtype)
    return Tensor(name, datatype, shape, array.reshape(shape))


def decode_request(server: Server, msg: Any) -> Decoded:
    """Build the InferenceRequest of a ModelInferRequest (INVALID_ARG says what is wrong)."""
    inputs: dict[str, Tensor] = {}
    raw = msg.raw_input_contents
    next_raw = 0
    for t in msg.inputs:
        name = t.name
        if name in inputs:
            raise invalid_arg(f"input '{name}' appears more than once in the request")
        shape = tuple(t.shape)
        ref = shm_ref(f"input '{name}'", params_dict(t.parameters)) if t.parameters else None
        if ref is not None:
            tensor = input_from_shm(server, name, t.datatype, shape, ref)
        elif t.HasField("contents"):
            if raw:
                raise invalid_arg(
                    f"input '{name}': contents must not be given when the request uses "
                    "raw_input_contents")
            tensor = _typed_input(name, t.datatype, shape, t.contents)
        else:
            if next_raw >= len(raw):
                raise invalid_arg(
                    f"input '{name}' has no data: give it raw_input_contents, contents or a "
                    "shared memory region")
            tensor = Tensor.from_buffer(name, t.datatype, shape, raw[next_raw])
            next_raw += 1
        inputs[name] = tensor
    if next_raw != len(raw):
        raise invalid_arg(
            f"the request has {len(raw)} raw_input_contents but only {next_raw} input(s) "
            "read from them")
    request = InferenceRequest(msg.model_name, inputs, parse_version(msg.model_version),
                               id=msg.id)
    empty_final = False
    if msg.parameters:
        params = params_dict(msg.parameters)
        empty_final = bool(params.pop(EMPTY_FINAL, False))
        apply_request_parameters(request, params)
    outputs: dict[str, OutputSpec] = {}
    if msg.outputs:
        request.requested_outputs = []
        for o in msg.outputs:
            spec = output_spec(o.name, params_dict(o.parameters) if o.parameters else None)
            want_on_device(server, request, o.name, spec.shm)
            request.requested_outputs.append(o.name)
            outputs[o.name] = spec
    return Decoded(request, outputs, empty_final)


_RAW_INPUT_TAG = 0x3A  # ModelInferRequest.raw_input_contents: field 7, length-delimited


@dataclass(frozen=True, slots=True)
class Layout:
    """What a ModelInferRequest said apart from its raw input bytes, kept to decode the same
    request again without parsing it. ``raw_input_contents`` is the message's last field, so
    the bytes before it (the "head": names, types, shapes, shm places, parameters, outputs)
    are the same in every request a client sends this way (perf_analyzer's): a layout is kept
    by its head. Inputs come from the raw contents after the head or from shared memory,
    whose regions are looked up anew (a region unregistered since is an error as before)."""

    model_name: str
    version: int
    id: str
    inputs: tuple[tuple[str, str, tuple[int, ...], ShmRef | None], ...]  # None: raw
    parameters: dict[str, Any] | None  # the request's, ``EMPTY_FINAL`` taken out
    outputs: dict[str, OutputSpec]
    empty_final: bool
    raw_count: int  # inputs read from raw_input_contents
    shm_outputs: tuple[tuple[str, ShmRef], ...]  # outputs bound for shared memory

    def decode(self, server: Server, raw: list[memoryview]) -> Decoded:
        inputs = {}
        next_raw = 0
        for name, datatype, shape, ref in self.inputs:
            if ref is None:
                inputs[name] = Tensor.from_buffer(name, datatype, shape, raw[next_raw])
                next_raw += 1
            else:
                inputs[name] = input_from_shm(server, name, datatype, shape, ref)
        request = InferenceRequest(self.model_name, inputs, self.version, id=self.id,
                                   layout=self)
        apply_kept(server, request, self.parameters, self.outputs, self.shm_outputs)
        return Decoded(request, self.outputs, self.empty_final)


LAYOUT_MAX_BYTES = 4096  # the longest head kept
LAYOUT_MAX_PAYLOAD = 1 << 16  # larger requests are not remembered (checking one costs a copy)
LAYOUT_LIMIT = 1024
_layouts: dict[bytes, Layout] = {}  # by head
_head_sizes: list[int] = []  # the distinct head lengths kept, most recent first
_HEAD_SIZES_LIMIT = 8


def decode_cached(server: Server, payload: bytes) -> Decoded | None:
    """The request serialized in ``payload``, decoded from a kept layout; None when no layout
    fits it (then it is parsed in full)."""
    for size in _head_sizes:
        layout = _layouts.get(payload[:size])
        if layout is not None:
            raw = _raw_contents(payload, size)
            if raw is None or len(raw) != layout.raw_count:
                return None
            return layout.decode(server, raw)
    return None


def _raw_contents(payload: bytes, start: int) -> list[memoryview] | None:
    """Views of the raw_input_contents entries that make up ``payload[start:]``; None when
    anything else is there."""
    view = memoryview(payload)
    out = []
    pos, end = start, len(payload)
    while pos < end:
        if payload[pos] != _RAW_INPUT_TAG:
            return None
        read = _read_varint(payload, pos + 1)
        if read is None:
            return None
        size, pos = read
        if pos + size > end:
            return None
        out.append(view[pos:pos + size])
        pos += size
    return out


def remember(payload: bytes, msg: Any, decoded: Decoded) -> None:
    """Keep the layout of a decoded request whose inputs all came from raw contents or shared
    memory, when its raw contents are the last bytes of ``payload`` (a large request may still
    be decoded from the layout of a small one with the same head)."""
    if not msg.inputs or len(payload) > LAYOUT_MAX_PAYLOAD:
        return
    inputs = []
    for t in msg.inputs:
        ref = shm_ref("", params_dict(t.parameters)) if t.parameters else None
        if ref is None and t.HasField("contents"):
            return
        inputs.append((t.name, t.datatype, tuple(t.shape), ref))
    raw = msg.raw_input_contents
    head = len(payload) - sum(1 + len(_varint(len(r))) + len(r) for r in raw)
    if not 0 <= head <= LAYOUT_MAX_BYTES:
        return
    tail = _raw_contents(payload, head)
    if tail is None or tail != list(raw):  # memoryviews compared with bytes: no copy
        return  # other fields after the raw contents (or inside the head, looking like them)
    params = None
    if msg.parameters:
        params = params_dict(msg.parameters)
        params.pop(EMPTY_FINAL, None)
    if len(_layouts) >= LAYOUT_LIMIT:
        _layouts.clear()
        _head_sizes.clear()
    _layouts[payload[:head]] = Layout(msg.model_name, parse_version(msg.model_version), msg.id,
                                      tuple(inputs), params, decoded.outputs,
                                      decoded.empty_final, len(raw),
                                      shm_destinations(decoded.outputs))
    if head not in _head_sizes:
        _head_sizes.insert(0, head)
        del _head_sizes[_HEAD_SIZES_LIMIT:]


def encode_response(server: Server, decoded: Decoded, response: InferenceResponse,
                    version: int, final: bool | None = None) -> Any:
    """The ModelInferResponse of ``response``; ``final`` adds triton_final_response."""
    msg, pieces = _encode(server, decoded, response, version, final)
    msg.raw_output_contents.extend(bytes(piece) for piece in pieces)
    return msg


def _encode(server: Server, decoded: Decoded, response: InferenceResponse, version: int,
            final: bool | None = None) -> tuple[Any, list[Any]]:
    """``response``'s ModelInferResponse without its raw output contents (the message's last
    field), and those contents (``_raw_outputs``)."""
    request = decoded.request
    msg = pb.ModelInferResponse(model_name=request.model_name, model_version=str(version),
                                id=request.id)
    if response.parameters:
        for key, value in response.parameters.items():
            set_param(msg.parameters[key], value)
    if final is not None:
        msg.parameters[FINAL].bool_param = final
    tensors = []
    for tensor in response.outputs:
        spec = decoded.outputs.get(tensor.name)
        if spec is not None and spec.classification:
            tensor = classified(server.model(request.model_name, version), tensor, spec)
        out = msg.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        if spec is not None and spec.shm_params:
            for key, value in spec.shm_params.items():
                set_param(out.parameters[key], value)
        tensors.append(tensor)
    return msg, _raw_outputs(server, decoded, tensors)


def _raw_outputs(server: Server, decoded: Decoded, tensors: list[Tensor]) -> list[Any]:
    """Each output's raw contents: its wire bytes (a view where it has one), or nothing for
    one written to its shared-memory place (written here)."""
    pieces: list[Any] = []
    for tensor in tensors:
        spec = decoded.outputs.get(tensor.name)
        if spec is not None and spec.shm is not None:
            output_to_shm(server, tensor, spec.shm)
            pieces.append(b"")
        else:
            pieces.append(tensor.to_wire())
    return pieces


HEADS_LIMIT = 1024
_RAW_OUTPUT_TAG = b"\x32"  # ModelInferResponse.raw_output_contents: field 6, length-delimited
#: a unary response's serialized fields before its raw outputs, by what decides them
_heads: dict[tuple[Any, ...], bytes] = {}


def encode_unary(server: Server, decoded: Decoded, response: InferenceResponse,
                 version: int) -> bytes:
    """The serialized ModelInferResponse of a unary call (what ``encode_response`` gives,
    serialized). Its raw output contents are the message's last field, and everything before
    them (the head) is decided by ``_head_key``: a head is kept, so the same request again
    costs only its outputs' bytes."""
    key = _head_key(decoded, response, version)
    head = _heads.get(key) if key is not None else None
    if head is None:
        msg, pieces = _encode(server, decoded, response, version)
        head = msg.SerializeToString()
        if key is not None:
            if len(_heads) >= HEADS_LIMIT:
                _heads.clear()
            _heads[key] = head
    else:
        pieces = _raw_outputs(server, decoded, response.outputs)
    parts = [head]
    for piece in pieces:
        size = piece.nbytes if type(piece) is memoryview else len(piece)
        parts.append(_RAW_OUTPUT_TAG + _varint(size))
        parts.append(piece)
    return b"".join(parts)


def _head_key(decoded: Decoded, response: InferenceResponse,
              version: int) -> tuple[Any, ...] | None:
    """What decides a unary response's head: the request id, model, version and the outputs'
    names, types, shapes and shm places. None for a response with parameters or a classified
    output (encoded afresh each time)."""
    if response.parameters:
        return None
    signature = []
    for tensor in response.outputs:
        spec = decoded.outputs.get(tensor.name)
        if spec is not None and spec.classification:
            return None
        place = tuple(spec.shm_params.items()) \
            if spec is not None and spec.shm_params else None
        signature.append((tensor.name, tensor.datatype, tuple(tensor.shape), place))
    request = decoded.request
    return request.id, request.model_name, version, tuple(signature)


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """The varint at ``data[pos:]`` and the position after it; None when it is cut short or
    longer than 64 bits."""
    value = shift = 0
    end = len(data)
    while pos < end and shift <= 63:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return None


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def stream_error(decoded: Decoded | None, msg: Any, error: TritonError) -> Any:
    """A ModelStreamInferResponse carrying ``error`` for one request of a stream."""
    out = pb.ModelStreamInferResponse(error_message=error.message)
    out.infer_response.model_name = msg.model_name
    out.infer_response.model_version = msg.model_version
    out.infer_response.id = msg.id
    return out
