"""Inference requests and responses in Triton's HTTP form: JSON tensors and binary tensor data.

Decoding builds an :class:`InferenceRequest` whose binary tensors are views of the request
body and whose shared-memory tensors are views of the registered region (no copies).
Encoding writes JSON ``data`` or binary pieces (views of the output arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from tritoncore import dtypes
from tritoncore.errors import TritonError, invalid_arg
from tritoncore.frontends.outputs import (
    OutputSpec,
    apply_kept,
    finish_output,
    output_spec,
    shm_destinations,
)
from tritoncore.frontends.request_params import apply_request_parameters
from tritoncore.frontends.shm_io import ShmRef, input_from_shm, shm_ref, want_on_device
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor, element_count

BINARY_DATA_SIZE = "binary_data_size"
_NUMPY_OPT = orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class DecodedRequest:
    """A request ready to submit and what the client asked of its outputs."""

    request: InferenceRequest
    outputs: dict[str, OutputSpec] | None  # None: every output, with the defaults
    binary_default: bool  # request parameter binary_data_output


def _shape(name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in value):
        raise invalid_arg(f"input '{name}': 'shape' must be a list of non-negative integers, "
                          f"got {value!r}")
    return tuple(value)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item))
    return out


def fp32_to_bf16(array: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 bit patterns (round to nearest even)."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def bf16_to_fp32(array: np.ndarray) -> np.ndarray:
    return (array.astype(np.uint32) << np.uint32(16)).view(np.float32)


def tensor_from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> Tensor:
    """An input given as JSON ``data`` (flat or nested, row-major)."""
    dt = dtypes.by_name(datatype)
    count = element_count(shape)
    if dt.is_bytes:
        flat = _flatten(data)
        array = np.empty(len(flat), dtype=np.object_)
        for i, item in enumerate(flat):
            if not isinstance(item, str):
                raise invalid_arg(f"input '{name}': BYTES 'data' must hold strings, "
                                  f"got {type(item).__name__}")
            array[i] = item.encode("utf-8")
    else:
        try:
            if dt.name == "BF16":
                array = fp32_to_bf16(np.array(data, dtype=np.float32))
            else:
                array = np.array(data, dtype=dt.numpy)
        except (ValueError, TypeError, OverflowError) as exc:
            raise invalid_arg(f"input '{name}': 'data' is not a valid {datatype} array: "
                              f"{exc}") from None
    if array.size != count:
        raise invalid_arg(f"input '{name}': shape {list(shape)} needs {count} elements, "
                          f"'data' has {array.size}")
    return Tensor(name, dt.name, shape, array.reshape(shape))


def _raw_input(loaded: Any, body: Any) -> dict[str, Tensor]:
    """A body that is the raw bytes of a model's single input (header length 0).

    tritoncore's reading: a fixed-size type's shape comes from the config when the dims are
    all known (with batch 1 if the model batches), else it is 1-D; BYTES is one element, the
    whole body.
    """
    config = loaded.config
    if len(config.input) != 1:
        raise invalid_arg(
            f"a raw binary request (Inference-Header-Content-Length: 0) needs a model with "
            f"exactly 1 input; model '{config.name}' has {len(config.input)}")
    spec = config.input[0]
    dt = dtypes.by_config_name(mc.DataType.Name(spec.data_type))
    batch = (1,) if config.max_batch_size > 0 else ()
    view = memoryview(body)
    if dt.is_bytes:
        array = np.empty(1, dtype=np.object_)
        array[0] = bytes(view)
        shape = batch + (1,) * max(len(spec.dims), 1)
        return {spec.name: Tensor(spec.name, "BYTES", shape, array.reshape(shape))}
    dims = tuple(spec.dims)
    if dims and all(d >= 0 for d in dims):
        shape = batch + dims
    else:
        if view.nbytes % dt.byte_size:
            raise invalid_arg(f"raw input '{spec.name}': {view.nbytes} bytes is not a whole "
                              f"number of {dt.name} elements")
        shape = batch + (view.nbytes // dt.byte_size,)
    return {spec.name: Tensor.from_buffer(spec.name, dt.name, shape, view)}


def _binary_input(name: str, datatype: str, shape: tuple[int, ...], view: memoryview,
                  offset: int, size: int, fits: bool = False) -> Tensor:
    """Input ``name``: ``size`` bytes of the body at ``offset`` (a view, no copy); ``fits``:
    ``size`` is known to fit ``shape`` (a kept layout's, checked when it was parsed)."""
    if offset + size > len(view):
        raise invalid_arg(f"input '{name}': {BINARY_DATA_SIZE} {size} runs past the end "
                          f"of the body ({len(view) - offset} bytes of binary data left)")
    make = Tensor.from_wire if fits else Tensor.from_buffer
    return make(name, datatype, shape, view[offset:offset + size])


def _check_all_used(offset: int, end: int) -> None:
    if offset != end:
        raise invalid_arg(f"{end - offset} bytes of binary data follow the inputs unused; "
                          f"'{BINARY_DATA_SIZE}' parameters must account for the whole body")


def decode(server: Any, loaded: Any, model_name: str, body: bytes,
           header_length: int | None) -> DecodedRequest:
    """Build the request from the body; INVALID_ARG says what is wrong with it."""
    if header_length == 0:
        request = InferenceRequest(model_name, _raw_input(loaded, body), loaded.version)
        return DecodedRequest(request, None, True)
    size = len(body)
    if header_length is None:
        header_length = size
    elif not 0 < header_length <= size:
        raise invalid_arg(f"Inference-Header-Content-Length {header_length} is outside the "
                          f"request body's {size} bytes")
    view = memoryview(body)
    header = body[:header_length] if header_length != size else body
    layout = _layouts.get(header)
    if layout is not None:
        return layout.request(server, model_name, loaded.version, view, header_length)
    try:
        doc = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise invalid_arg(f"failed to parse the request JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise invalid_arg("the request JSON must be an object with 'inputs'")
    try:
        decoded = _decode_doc(server, loaded, model_name, doc, view, header_length)
    except TritonError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise invalid_arg(f"malformed inference request: {exc}") from None
    if len(header) <= _LAYOUT_MAX_HEADER:
        _remember(header, doc, decoded)
    return decoded


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a request JSON whose tensors are all binary data or in shared memory said, kept
    to decode the same JSON again without parsing it (clients send the same header for every
    request). Shared-memory places are looked up anew each time: new contents, a region
    registered again or not at all show as they would."""

    #: name, datatype, shape, and the input's bytes in the body or its shared-memory place
    inputs: tuple[tuple[str, str, tuple[int, ...], int | ShmRef], ...]
    id: str
    parameters: dict[str, Any] | None
    outputs: dict[str, OutputSpec] | None
    binary_default: bool
    shm_outputs: tuple[tuple[str, ShmRef], ...]  # outputs bound for shared memory

    def request(self, server: Any, model_name: str, version: int, view: memoryview,
                offset: int) -> DecodedRequest:
        tensors = {}
        for name, datatype, shape, place in self.inputs:
            if isinstance(place, ShmRef):
                tensors[name] = input_from_shm(server, name, datatype, shape, place)
            else:
                tensors[name] = _binary_input(name, datatype, shape, view, offset, place, True)
                offset += place
        _check_all_used(offset, len(view))
        request = InferenceRequest(model_name, tensors, version, id=self.id, layout=self)
        apply_kept(server, request, self.parameters, self.outputs, self.shm_outputs)
        return DecodedRequest(request, self.outputs, self.binary_default)


_LAYOUT_MAX_HEADER = 4096
_LAYOUT_LIMIT = 1024
_layouts: dict[bytes, _Layout] = {}


def _remember(header: bytes, doc: dict[str, Any], decoded: DecodedRequest) -> None:
    """Keep the layout of a request whose inputs are all binary data or in shared memory
    (one with JSON ``data`` is left out: its values are in the JSON)."""
    inputs = []
    for item in doc["inputs"]:
        params = item.get("parameters") or {}
        place = params.get(BINARY_DATA_SIZE)
        if place is None:
            place = shm_ref("", params)
            if place is None:
                return
        inputs.append((item["name"], item["datatype"], tuple(item["shape"]), place))
    specs = decoded.outputs
    if len(_layouts) >= _LAYOUT_LIMIT:
        _layouts.clear()
    _layouts[header] = _Layout(tuple(inputs), decoded.request.id, doc.get("parameters"),
                               specs, decoded.binary_default, shm_destinations(specs))


def _decode_doc(server: Any, loaded: Any, model_name: str, doc: dict[str, Any],
                view: memoryview, offset: int) -> DecodedRequest:
    inputs = doc.get("inputs")
    if not isinstance(inputs, list):
        raise invalid_arg("the request JSON needs an 'inputs' list")
    tensors: dict[str, Tensor] = {}
    end = len(view)
    for item in inputs:
        if not isinstance(item, dict):
            raise invalid_arg("each entry of 'inputs' must be an object")
        name = item.get("name")
        datatype = item.get("datatype")
        if not isinstance(name, str) or not name:
            raise invalid_arg("an input has no 'name'")
        if not isinstance(datatype, str):
            raise invalid_arg(f"input '{name}' has no 'datatype'")
        if name in tensors:
            raise invalid_arg(f"input '{name}' is given more than once")
        shape = _shape(name, item.get("shape"))
        params = item.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise invalid_arg(f"input '{name}': 'parameters' must be an object")
        params = params or {}
        size = params.get(BINARY_DATA_SIZE)
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise invalid_arg(f"input '{name}': '{BINARY_DATA_SIZE}' must be a non-negative "
                                  f"integer, got {size!r}")
            tensor = _binary_input(name, datatype, shape, view, offset, size)
            offset += size
        else:
            ref = shm_ref(f"input '{name}'", params)
            if ref is not None:
                tensor = input_from_shm(server, name, datatype, shape, ref)
            elif "data" in item:
                tensor = tensor_from_json(name, datatype, shape, item["data"])
            else:
                raise invalid_arg(f"input '{name}' has no data: give 'data', the "
                                  f"'{BINARY_DATA_SIZE}' parameter or a shared memory region")
        tensors[name] = tensor
    _check_all_used(offset, end)

    request = InferenceRequest(model_name, tensors, loaded.version)
    rid = doc.get("id")
    if rid is not None:
        if not isinstance(rid, str):
            raise invalid_arg(f"request 'id' must be a string, got {rid!r}")
        request.id = rid
    params = doc.get("parameters")
    binary_default = False
    if params:
        if not isinstance(params, dict):
            raise invalid_arg("request 'parameters' must be an object")
        apply_request_parameters(request, params)
        bdo = params.get("binary_data_output", False)
        if not isinstance(bdo, bool):
            raise invalid_arg(f"'binary_data_output' must be a boolean, got {bdo!r}")
        binary_default = bdo
    specs: dict[str, OutputSpec] | None = None
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            raise invalid_arg("request 'outputs' must be a list")
        specs = {}
        for item in outputs:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                raise invalid_arg("each entry of 'outputs' needs a 'name'")
            p = item.get("parameters")
            if p is not None and not isinstance(p, dict):
                raise invalid_arg(f"output '{name}': 'parameters' must be an object")
            specs[name] = output_spec(name, p)
            want_on_device(server, request, name, specs[name].shm)
        if specs:
            request.requested_outputs = list(specs)
    return DecodedRequest(request, specs, binary_default)


def _json_data(tensor: Tensor) -> Any:
    array = tensor.as_numpy()
    if tensor.datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in array.reshape(-1)]
    if tensor.datatype == "BF16":
        array = bf16_to_fp32(array)
    flat = np.ascontiguousarray(array.reshape(-1))
    if flat.dtype.byteorder == ">":
        flat = flat.astype(flat.dtype.newbyteorder("="))
    return flat


_HEADS_LIMIT = 1024
#: response JSON by (request id, model, version, ((name, datatype, shape, bytes), ...)) for
#: responses whose outputs are all binary data: the same request gets the same JSON back
_heads: dict[tuple[Any, ...], bytes] = {}


def encode(server: Any, loaded: Any, model_name: str, decoded: DecodedRequest,
           response: InferenceResponse) -> tuple[bytes, list[Any]]:
    """The response JSON and the binary pieces that follow it (views, not copies)."""
    key, pieces = _binary_layout(loaded, model_name, decoded, response)
    if key is not None:
        head = _heads.get(key)
        if head is not None:
            return head, pieces
    head, pieces = _encode(server, loaded, model_name, decoded, response)
    if key is not None:
        if len(_heads) >= _HEADS_LIMIT:
            _heads.clear()
        _heads[key] = head
    return head, pieces


def _binary_layout(loaded: Any, model_name: str, decoded: DecodedRequest,
                   response: InferenceResponse) -> tuple[tuple[Any, ...] | None, list[Any]]:
    """The ``_heads`` key of a response whose outputs are all plain binary data (it decides
    the whole JSON) and those outputs' bytes; (None, []) for any other response."""
    if response.parameters:
        return None, []
    specs = decoded.outputs
    binary_default = decoded.binary_default
    signature = []
    pieces = []
    for tensor in response.outputs:
        spec = specs.get(tensor.name) if specs else None
        if spec is None:
            binary = binary_default
        elif spec.classification or spec.shm is not None:
            return None, []
        else:
            binary = binary_default if spec.binary is None else spec.binary
        if not binary:
            return None, []
        wire = tensor.to_wire()
        pieces.append(wire)
        signature.append((tensor.name, tensor.datatype, tuple(tensor.shape),
                          len(wire) if isinstance(wire, bytes) else wire.nbytes))
    return (decoded.request.id, model_name, loaded.version, tuple(signature)), pieces


def _encode(server: Any, loaded: Any, model_name: str, decoded: DecodedRequest,
            response: InferenceResponse) -> tuple[bytes, list[Any]]:
    specs = decoded.outputs
    binary_default = decoded.binary_default
    entries = []
    pieces: list[Any] = []
    for tensor in response.outputs:
        spec = specs.get(tensor.name) if specs else None
        written = None
        if spec is not None and (spec.classification or spec.shm is not None):
            tensor, written = finish_output(server, loaded, tensor, spec)
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype,
                                 "shape": list(tensor.shape)}
        # An output written to the client's shm region gets no data and no 'parameters'
        # (as Triton: clients such as perf_analyzer's read any parameters as binary data).
        if written is None:
            binary = spec.binary if spec is not None and spec.binary is not None \
                else binary_default
            if binary:
                wire = tensor.to_wire()
                entry["parameters"] = {BINARY_DATA_SIZE: len(wire) if isinstance(wire, bytes)
                                       else wire.nbytes}
                pieces.append(wire)
            else:
                entry["data"] = _json_data(tensor)
        entries.append(entry)
    doc: dict[str, Any] = {}
    if decoded.request.id:
        doc["id"] = decoded.request.id
    doc["model_name"] = model_name
    doc["model_version"] = str(loaded.version)
    if response.parameters:
        doc["parameters"] = response.parameters
    doc["outputs"] = entries
    return orjson.dumps(doc, option=_NUMPY_OPT), pieces
