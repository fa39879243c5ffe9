"""Small questions about protobuf field descriptors, asked by more than one module."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor


def is_repeated(field: FieldDescriptor) -> bool:
    """True for repeated fields, maps included."""
    flag = getattr(field, "is_repeated", None)  # protobuf >= 6; `label` is deprecated
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def is_map(field: FieldDescriptor) -> bool:
    """True for ``map<K, V>`` fields."""
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def map_value_is_message(field: FieldDescriptor) -> bool:
    """True for maps whose values are messages."""
    return field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE
