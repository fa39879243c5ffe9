"""Reading repositories from disk: model directories, version directories, change detection."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritoncore.errors import invalid_arg

#: The tritoncore server-level config sits at a repository's root under this name.
SERVER_CONFIG_NAME = "config.pbtxt"


@dataclass
class Scan:
    """The models found in all repositories: name -> directory, and names found twice."""

    models: dict[str, Path] = field(default_factory=dict)
    duplicates: dict[str, list[Path]] = field(default_factory=dict)


def scan_repositories(repositories: list[Path]) -> Scan:
    """Every model directory (hidden entries skipped) across ``repositories``."""
    result = Scan()
    for repo in repositories:
        for entry in sorted(repo.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if entry.name in result.models:
                result.duplicates.setdefault(entry.name, [result.models[entry.name]]).append(entry)
            else:
                result.models[entry.name] = entry
    return result


def version_numbers(model_dir: Path) -> list[int]:
    """Numeric version directories, ascending; other names (and leading zeros) are ignored."""
    versions = []
    for entry in model_dir.iterdir():
        name = entry.name
        if entry.is_dir() and name.isdigit() and (name == "0" or not name.startswith("0")):
            versions.append(int(name))
    return sorted(versions)


def select_versions(policy: Any, available: list[int]) -> tuple[list[int], list[int]]:
    """Apply a ModelVersionPolicy: (versions to load, requested versions that are missing)."""
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return list(available), []
    if kind == "specific":
        wanted = sorted(set(policy.specific.versions))
        return [v for v in wanted if v in available], [v for v in wanted if v not in available]
    count = policy.latest.num_versions if kind == "latest" else 1
    if count < 1:
        raise invalid_arg(f"version_policy latest.num_versions must be >= 1, got {count}")
    return available[-count:], []


def fingerprint(model_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every file under ``model_dir``: equal means unchanged."""
    rows = []
    for root, dirs, files in os.walk(model_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            rows.append((str(path.relative_to(model_dir)), st.st_mtime_ns, st.st_size))
    return tuple(rows)
