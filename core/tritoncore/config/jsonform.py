"""ModelConfig as the JSON Triton returns from ``GET /v2/models/<m>/config``.

What Triton 2.51 does (checked against the real server, see
``core/tests/data/triton251_config/README.md``):

- proto field names (``max_batch_size``), fields in ``.proto`` declaration order;
- every scalar, repeated and map field is present even at its default (``"platform": ""``,
  ``"batch_input": []``, ``"parameters": {}``), but an unset message field or oneof member is
  left out (``optimization.cuda``, ``response_cache``, ``sequence_batching.direct``);
- 64-bit integers are JSON numbers, not the strings protobuf's JSON mapping uses
  (``"dims": [4]``, ``"max_queue_delay_microseconds": 100``); map keys are strings;
- enums by name; floats in their shortest form, integral ones without a fraction
  (``[0, 1]``, ``0.1``);
- compact separators: ``{"name":"add_sub","platform":"",...}``.

Scalars that Triton added after 2.51 (``_NEWER_FIELDS``) are left out while at their default,
so the output stays identical to 2.51's for every config 2.51 can express.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tritoncore.config._fields import is_map, is_repeated

# Fields newer than Triton 2.51, shown only when set to something other than the default.
_NEWER_FIELDS = frozenset({"inference.ModelEnsembling.max_inflight_requests"})
_FLOAT = FieldDescriptor.TYPE_FLOAT
_DOUBLE = FieldDescriptor.TYPE_DOUBLE


def _float32_text(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float."""
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == struct.pack("<f", value):
            return candidate
    return value


def _number(value: float, field: FieldDescriptor) -> float | int | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if field.type == _FLOAT:
        value = _float32_text(value)
    return int(value) if value.is_integer() else value


def _scalar(value: Any, field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else value
    if field.type in (_FLOAT, _DOUBLE):
        return _number(value, field)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json_dict(value)
    return value


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _has_presence(field: FieldDescriptor) -> bool:
    # Singular message fields and oneof members are shown only when set.
    if is_repeated(field):
        return False
    return field.type == FieldDescriptor.TYPE_MESSAGE or field.containing_oneof is not None


def to_json_dict(message: Message) -> dict[str, Any]:
    """A message (normally a ModelConfig) as Triton's JSON object."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if _has_presence(field) and not message.HasField(field.name):
            continue
        value = getattr(message, field.name)
        if field.full_name in _NEWER_FIELDS and value == field.default_value:
            continue
        if is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {_map_key(k): _scalar(value[k], value_field) for k in sorted(value)}
        elif is_repeated(field):
            out[field.name] = [_scalar(v, field) for v in value]
        else:
            out[field.name] = _scalar(value, field)
    return out


def to_json(message: Message) -> str:
    """A message as Triton's compact JSON text (what the HTTP endpoint sends)."""
    return json.dumps(to_json_dict(message), separators=(",", ":"), ensure_ascii=False)
