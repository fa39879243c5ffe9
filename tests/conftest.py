"""Shared fixtures: model repositories written per test, and an in-process server."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import testing_backend
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.server import Server

T = TypeVar("T")

DOUBLE = """
name: "{name}"
backend: "testing"
max_batch_size: {max_batch_size}
input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
{extra}
"""


def write_model(repo: Path, name: str, extra: str = "", versions: tuple[int, ...] = (1,),
                text: str | None = None, max_batch_size: int = 4) -> Path:
    """A model directory with a config.pbtxt and empty version directories."""
    model = repo / name
    model.mkdir(parents=True, exist_ok=True)
    body = text if text is not None else DOUBLE.format(name=name, extra=extra,
                                                       max_batch_size=max_batch_size)
    (model / "config.pbtxt").write_text(textwrap.dedent(body))
    for v in versions:
        (model / str(v)).mkdir(exist_ok=True)
    return model


def params(**kv: str) -> str:
    return "\n".join(
        f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}' for k, v in kv.items())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def clear_events() -> None:
    testing_backend.EVENTS.clear()
    testing_backend.HELD.clear()


def make_server(repo: Path, **options: Any) -> Server:
    """A server whose plugin manager also has the test backend, registered by its hook."""
    opts = ServerOptions(model_repositories=[repo], allow_http=False, allow_grpc=False,
                         allow_metrics=False, **options)
    plugins = PluginManager()
    plugins.register(testing_backend, name="testing")
    return Server(opts, plugins, gpus=0)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]
