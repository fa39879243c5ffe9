"""Helpers: write TorchScript models into a repository, serve it in-process, infer."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import torch
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor

T = TypeVar("T")
GPUS = torch.cuda.device_count()


@pytest.fixture(name="repo")
def repo_fixture(tmp_path: Path) -> Path:
    """An empty model repository."""
    path = tmp_path / "models"
    path.mkdir()
    return path


def write_model(repo: Path, name: str, config: str, module: Any = None,
                filename: str = "model.pt", version: int = 1) -> Path:
    """``<repo>/<name>/config.pbtxt`` and ``<version>/<filename>`` (a saved module, or bytes)."""
    model_dir = repo / name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(textwrap.dedent(config))
    target = model_dir / str(version) / filename
    if isinstance(module, bytes):
        target.write_bytes(module)
    elif isinstance(module, torch.export.ExportedProgram):
        torch.export.save(module, str(target))
    elif module is not None:
        module.save(str(target))
    return model_dir


def make_server(repo: Path, gpus: int = GPUS, **options: Any) -> Server:
    """An in-process server whose backends come from the installed entry points."""
    opts = ServerOptions(model_repositories=[repo], allow_http=False, allow_grpc=False,
                         allow_metrics=False, **options)
    return Server(opts, PluginManager(), gpus=gpus)


def request(model: str, outputs: list[str] | None = None, **arrays: Any) -> InferenceRequest:
    inputs = {}
    for name, value in arrays.items():
        if isinstance(value, Tensor):
            inputs[name] = value
        else:
            inputs[name] = Tensor.from_numpy(name, value)
    return InferenceRequest(model, inputs, requested_outputs=outputs)


async def infer(server: Server, model: str, outputs: list[str] | None = None,
                **arrays: Any) -> dict[str, np.ndarray]:
    response = await server.infer(request(model, outputs, **arrays))
    return {t.name: t.as_numpy() for t in response.outputs}


def serve(repo: Path, body: Callable[[Server], Awaitable[T]], **options: Any) -> T:
    """Start a server on ``repo``, run ``body(server)``, stop the server."""

    async def go() -> T:
        server = make_server(repo, **options)
        await server.start()
        try:
            return await body(server)
        finally:
            await server.stop()

    return asyncio.run(go())
