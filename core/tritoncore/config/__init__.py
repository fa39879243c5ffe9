"""Model configuration: parse config.pbtxt, resolve the backend, fill defaults, validate,
and show it as Triton's JSON.

The usual order for one model::

    config = read_model_config(model_dir, config_name) or ModelConfig()
    config = merge(config, server_override)          # repository-level config.pbtxt, if any
    backend = resolve_backend(config, model_dir)
    config = fill_defaults(config, model_name=model_dir.name, gpu_count=n, default_kind=k)
    warnings = validate(config, model_name=model_dir.name, installed_backends=names, gpu_count=n)
    to_json(config)                                  # GET /v2/models/<m>/config
"""

from tritoncore.config.defaults import fill_defaults, is_ensemble, resolve_kind
from tritoncore.config.jsonform import to_json, to_json_dict
from tritoncore.config.load import config_path, read_model_config, resolve_backend
from tritoncore.config.parse import (
    parse_model_config_file,
    parse_model_config_json,
    parse_model_config_text,
)
from tritoncore.config.platforms import (
    backend_for_model_file,
    backend_for_platform,
    canonical_platform,
    default_model_filename,
    distribution_for,
    is_alias_platform,
    known_platforms,
)
from tritoncore.config.server_config import (
    backend_settings,
    load_server_config,
    merge,
    model_overrides,
    parse_server_config,
)
from tritoncore.config.validate import validate
from tritoncore.protocol.model_config_pb2 import ModelConfig, ModelInstanceGroup
from tritoncore.protocol.server_config_pb2 import ServerConfig

__all__ = [
    "ModelConfig",
    "ModelInstanceGroup",
    "ServerConfig",
    "backend_for_model_file",
    "backend_for_platform",
    "backend_settings",
    "canonical_platform",
    "config_path",
    "default_model_filename",
    "distribution_for",
    "fill_defaults",
    "is_alias_platform",
    "is_ensemble",
    "known_platforms",
    "load_server_config",
    "merge",
    "model_overrides",
    "parse_model_config_file",
    "parse_model_config_json",
    "parse_model_config_text",
    "parse_server_config",
    "read_model_config",
    "resolve_backend",
    "resolve_kind",
    "to_json",
    "to_json_dict",
    "validate",
]
