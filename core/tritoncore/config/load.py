"""Find a model's config file and decide which backend serves it."""

from __future__ import annotations

from pathlib import Path

from tritoncore.config import platforms
from tritoncore.config.parse import parse_model_config_file
from tritoncore.errors import invalid_arg
from tritoncore.protocol.model_config_pb2 import ModelConfig

CONFIG_FILENAME = "config.pbtxt"
CONFIGS_DIR = "configs"


def config_path(model_dir: Path, config_name: str | None = None) -> Path | None:
    """The config file a model uses: ``configs/<config_name>.pbtxt`` when that exists
    (``--model-config-name``), else ``config.pbtxt``, else None."""
    if config_name:
        custom = model_dir / CONFIGS_DIR / f"{config_name}.pbtxt"
        if custom.is_file():
            return custom
    default = model_dir / CONFIG_FILENAME
    return default if default.is_file() else None


def read_model_config(model_dir: Path, config_name: str | None = None) -> ModelConfig | None:
    """Parse the model's config file (see ``config_path``); None when it has none."""
    path = config_path(Path(model_dir), config_name)
    return parse_model_config_file(path) if path is not None else None


def _version_dirs(model_dir: Path) -> list[Path]:
    try:
        children = list(model_dir.iterdir())
    except OSError:
        return []
    versions = [p for p in children if p.is_dir() and p.name.isdigit()]
    return sorted(versions, key=lambda p: int(p.name), reverse=True)


def _backend_from_files(model_dir: Path) -> str | None:
    # As Triton does for a config that names neither backend nor platform.
    for version in _version_dirs(model_dir):
        for row in platforms.TABLE:
            if row.model_filename and (version / row.model_filename).exists():
                return row.backend
    return None


def resolve_backend(config: ModelConfig, model_dir: Path | None = None) -> str:
    """The backend that serves ``config``; fills ``backend`` and ``platform`` like Triton.

    ``backend`` wins when set; else ``platform`` is looked up in the platform table; else the
    default model file found in a version directory of ``model_dir`` decides (``model.py`` →
    python). ``config`` is updated in place: ``backend`` is set (ensembles keep it empty, as in
    Triton) and ``platform`` becomes the canonical one when empty or a tritoncore alias
    (``platform: "pytorch"`` → ``backend: "pytorch"``, ``platform: "pytorch_libtorch"``).
    """
    name = config.name or (model_dir.name if model_dir else "?")
    backend = config.backend
    if not backend and config.platform:
        backend = platforms.backend_for_platform(config.platform) or ""
        if not backend:
            raise invalid_arg(
                f"model '{name}': unknown platform '{config.platform}'; known platforms: "
                f"{', '.join(platforms.known_platforms())} (or set backend: instead)"
            )
    if not backend and model_dir is not None:
        backend = _backend_from_files(Path(model_dir)) or ""
    if not backend:
        files = ", ".join(r.model_filename for r in platforms.TABLE if r.model_filename)
        raise invalid_arg(
            f"model '{name}': the config names no backend or platform and no version "
            f"directory holds a default model file ({files}); set backend: in config.pbtxt"
        )
    if backend == platforms.ENSEMBLE:
        config.platform = platforms.ENSEMBLE
        return backend
    config.backend = backend
    same_backend_alias = (
        platforms.is_alias_platform(config.platform)
        and platforms.backend_for_platform(config.platform) == backend
    )
    if not config.platform or same_backend_alias:
        config.platform = platforms.canonical_platform(backend)
    return backend
