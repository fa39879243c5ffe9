"""The repository-level ``config.pbtxt`` (a tritoncore extension, not in Triton).

A ``config.pbtxt`` at the root of a model repository may hold::

    model_config_list: [ { config: { name: "m", platform: "pytorch", max_batch_size: 16 } } ]
    backend_config: [ { backend: "python", parameters: { key: "shm-default-byte-size",
                                                           value: "1048576" } } ]

Each ``model_config_list`` entry is merged over model ``m``'s own config.pbtxt (or stands in
for it); ``backend_config`` is the same as ``--backend-config=python,shm-default-byte-size=...``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tritoncore.config._fields import is_map, is_repeated, map_value_is_message
from tritoncore.config.parse import parse_text, read_text_file
from tritoncore.errors import invalid_arg
from tritoncore.protocol.model_config_pb2 import ModelConfig
from tritoncore.protocol.server_config_pb2 import ServerConfig

FILENAME = "config.pbtxt"


def parse_server_config(
    text: str, source: str = FILENAME, known_models: Collection[str] | None = None
) -> ServerConfig:
    """Parse and check server-level config text.

    Errors: text that does not parse (unknown keys included), an entry without a model name,
    two entries for one model, an entry for a model in no repository (when ``known_models``
    is given), two entries for one backend, a backend parameter set twice.
    """
    config = parse_text(text, ServerConfig(), source)
    seen: set[str] = set()
    for index, entry in enumerate(config.model_config_list):
        name = entry.config.name
        if not name:
            raise invalid_arg(
                f"{source}: model_config_list entry {index} has no config.name; "
                "say which model it configures"
            )
        if name in seen:
            raise invalid_arg(
                f"{source}: model_config_list has two entries for model '{name}'; merge them"
            )
        seen.add(name)
        if known_models is not None and name not in known_models:
            known = ", ".join(sorted(known_models)) or "none"
            raise invalid_arg(
                f"{source}: model_config_list configures model '{name}', which is in no "
                f"model repository (models found: {known})"
            )
    backends: set[str] = set()
    for entry in config.backend_config:
        if not entry.backend:
            raise invalid_arg(f"{source}: a backend_config entry has no backend name")
        if entry.backend in backends:
            raise invalid_arg(
                f"{source}: backend_config has two entries for backend '{entry.backend}'; "
                "merge them"
            )
        backends.add(entry.backend)
        keys: set[str] = set()
        for parameter in entry.parameters:
            if parameter.key in keys:
                raise invalid_arg(
                    f"{source}: backend_config for '{entry.backend}' sets '{parameter.key}' twice"
                )
            keys.add(parameter.key)
    return config


def load_server_config(path: Path, known_models: Collection[str] | None = None) -> ServerConfig:
    """Read and check a repository-level ``config.pbtxt`` (see ``parse_server_config``)."""
    return parse_server_config(read_text_file(path), str(path), known_models)


def model_overrides(config: ServerConfig) -> dict[str, ModelConfig]:
    """Server-level model configs by model name."""
    return {entry.config.name: entry.config for entry in config.model_config_list}


def backend_settings(config: ServerConfig) -> dict[str, dict[str, str]]:
    """``backend_config`` as {backend: {key: value}}, like parsed ``--backend-config`` flags."""
    return {
        entry.backend: {p.key: p.value for p in entry.parameters} for entry in config.backend_config
    }


def _merge_into(base: Message, override: Message) -> None:
    for field, value in override.ListFields():
        target: Any = getattr(base, field.name)
        if is_map(field):
            for key in value:  # maps merge per key; a key's value is replaced whole
                if map_value_is_message(field):
                    target[key].CopyFrom(value[key])
                else:
                    target[key] = value[key]
        elif is_repeated(field):
            del target[:]  # a repeated field in the override replaces the model's list
            target.extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.SetInParent()  # also switches a oneof to this member
            _merge_into(getattr(base, field.name), value)
        else:
            setattr(base, field.name, value)


def merge(model_config: ModelConfig | None, override: ModelConfig) -> ModelConfig:
    """``override`` laid over a model's own config; a new message, inputs left unchanged.

    Protobuf MergeFrom semantics (set fields win, sub-messages merge, maps merge per key),
    except that a repeated field in the override replaces the model's list instead of
    appending to it. With no model config the override is the whole config. As with any
    proto3 merge, a scalar set to its default (``max_batch_size: 0``) cannot override.
    """
    merged = ModelConfig()
    if model_config is not None:
        merged.CopyFrom(model_config)
    _merge_into(merged, override)
    return merged
