"""Text (config.pbtxt) and JSON (load overrides) into ModelConfig, with errors that point.

Every failure is a TritonError INVALID_ARG naming the source and, for text, the line and
column: ``models/m/config.pbtxt:4:1: ...``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format, text_format
from google.protobuf.message import Message

from tritoncore.errors import invalid_arg
from tritoncore.protocol.model_config_pb2 import ModelConfig

M = TypeVar("M", bound=Message)

# text_format prefixes its messages with "line:column : ".
_POSITION = re.compile(r"^\d+:\d+ : ")
_TEXT_ONEOF = re.compile(
    r'Field "(\w+)" is specified along with field "(\w+)", another member of oneof "(\w+)"'
)
_JSON_ONEOF = re.compile(r'should not have multiple "(\w+)" oneof fields')
# Failures the protobuf parsers raise on hostile input besides their ParseError.
_PARSER_FAILURES = (ValueError, TypeError, OverflowError, RecursionError, UnicodeError)


def _oneof_members(message: Message, oneof: str) -> str:
    fields = message.DESCRIPTOR.oneofs_by_name[oneof].fields
    return ", ".join(f.name for f in fields)


def _explain(message: Message, text: str) -> str:
    """Make protobuf's oneof complaints say what to do."""
    if m := _TEXT_ONEOF.search(text):
        first, second, oneof = m.group(2), m.group(1), m.group(3)
        return (
            f"'{first}' and '{second}' are both set, but only one of "
            f"{_oneof_members(message, oneof)} may be; remove one"
        )
    if m := _JSON_ONEOF.search(text):
        oneof = m.group(1)
        if oneof in message.DESCRIPTOR.oneofs_by_name:
            return f"only one of {_oneof_members(message, oneof)} may be set; remove the others"
    return text


def parse_text(text: str, message: M, source: str = "config.pbtxt") -> M:
    """Parse protobuf text format into ``message`` (which is returned)."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as e:
        detail = _explain(message, _POSITION.sub("", str(e)))
        line, column = e.GetLine(), e.GetColumn()
        where = f"{source}:{line}:{column}" if line is not None else source
        raise invalid_arg(f"{where}: {detail}") from None
    except _PARSER_FAILURES as e:
        raise invalid_arg(f"{source}: not valid protobuf text: {e}") from None
    return message


def read_text_file(path: Path) -> str:
    """A config file's text; unreadable or non-UTF-8 files are INVALID_ARG."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid_arg(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise invalid_arg(f"{path}: cannot read: {e.strerror or e}") from None


def parse_model_config_text(text: str, source: str = "config.pbtxt") -> ModelConfig:
    """``config.pbtxt`` text into a ModelConfig."""
    return parse_text(text, ModelConfig(), source)


def parse_model_config_file(path: Path) -> ModelConfig:
    """Read and parse one ``config.pbtxt``."""
    return parse_model_config_text(read_text_file(path), str(path))


def parse_model_config_json(
    data: str | bytes | dict[str, Any], source: str = "config override"
) -> ModelConfig:
    """Triton's JSON form of a ModelConfig (as the load API's ``config`` parameter carries it).

    Accepts proto field names (``max_batch_size``) and their camelCase JSON names, int64 as
    numbers or strings, enums by name or number. Unknown fields are errors, as in Triton.
    """
    try:
        obj = json.loads(data) if isinstance(data, (str, bytes)) else data
    except (ValueError, RecursionError) as e:
        raise invalid_arg(f"{source}: not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise invalid_arg(
            f"{source}: a model config must be a JSON object, got {type(obj).__name__}"
        )
    config = ModelConfig()
    try:
        json_format.ParseDict(obj, config)
    except json_format.ParseError as e:
        raise invalid_arg(f"{source}: {_explain(config, str(e).splitlines()[0])}") from None
    except _PARSER_FAILURES as e:
        raise invalid_arg(f"{source}: not a valid model config: {e}") from None
    return config


__all__ = [
    "parse_model_config_file",
    "parse_model_config_json",
    "parse_model_config_text",
    "parse_text",
    "read_text_file",
]
