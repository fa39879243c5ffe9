"""Running one check as a pytest test: target resolution (cached), outcome recording."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

#: The checks in the order they run (kept here so importing the plugin stays cheap).
CHECK_NAMES: tuple[str, ...] = (
    "discovery", "auto_complete", "readiness", "load_unload_cycles", "one_final_response",
    "cancellation", "errors", "batch_split", "dtype_round_trip", "decoupled",
    "instance_parallelism",
)
CHECK_KEY = "tritoncore_check"
DETAIL_KEY = "tritoncore_detail"

_targets: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def target_for(backend: str, models: Any, scratch: Callable[[], Path]) -> Any:
    """The resolved Target, once per (backend, models) in this process."""
    from tritoncore_sdk.conformance.target import resolve

    key = (backend, repr(models))
    with _lock:
        if key not in _targets:
            _targets[key] = resolve(backend, models,
                                    Path() if isinstance(models, Path) else scratch())
        return _targets[key]


def run_check(name: str, backend: str, models: Any, scratch: Callable[[], Path],
              record: Callable[[str, Any], None]) -> None:
    """Run check ``name``; pass, ``pytest.skip`` or raise, recording the detail either way."""
    from tritoncore_sdk.conformance.checks import CHECKS, CheckFailed, CheckSkipped
    from tritoncore_sdk.conformance.target import Target, TargetError

    record(CHECK_KEY, [backend, name])
    try:
        # discovery needs only the name: it must report a missing backend itself
        target = (Target(backend, Path(), {}) if name == "discovery"
                  else target_for(backend, models, scratch))
        detail = asyncio.run(CHECKS[name](target))
    except CheckSkipped as exc:
        record(DETAIL_KEY, str(exc))
        pytest.skip(str(exc))
    except (CheckFailed, TargetError) as exc:
        record(DETAIL_KEY, str(exc))
        raise CheckFailed(str(exc)) from None
    except Exception as exc:
        record(DETAIL_KEY, f"{type(exc).__name__}: {exc}")
        raise
    record(DETAIL_KEY, detail)


def conformance_tests(backend: str,
                      models: str | Path | Callable[[Path], Mapping[str, str]] | None = None,
                      checks: tuple[str, ...] | None = None) -> dict[str, Callable[..., None]]:
    """Test functions, one per check, for a test module's globals:

        globals().update(conformance_tests("mybackend", models=Path(__file__).parent / "models"))

    ``models`` is a model repository (roles in its ``conformance.json``), or a function that
    writes models into the directory it is given and returns ``{model: role}``; ``None`` lets
    the backend's ``tritoncore_conformance_models`` hook write them.
    """
    path = Path(models) if isinstance(models, str) else models
    tests: dict[str, Callable[..., None]] = {}
    for name in checks or CHECK_NAMES:
        if name not in CHECK_NAMES:
            raise ValueError(f"unknown check '{name}'; checks are {', '.join(CHECK_NAMES)}")

        def test(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 _name: str = name) -> None:
            props = request.node.user_properties
            run_check(_name, backend, path,
                      lambda: tmp_path_factory.mktemp(f"conformance-{backend}"),
                      lambda k, v: props.append((k, v)))

        test.__name__ = f"test_conformance_{name}"
        test.__doc__ = f"conformance check '{name}' for backend '{backend}'"
        tests[test.__name__] = test
    return tests
