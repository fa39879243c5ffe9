"""Without TensorRT installed, a tensorrt_plan model fails to load with an install hint."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from tritoncore.errors import TritonError
from tritoncore.options import ServerOptions
from tritoncore.server import Server

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                                reason="tensorrt is installed here")


def test_loading_a_plan_without_tensorrt_says_how_to_install_it(tmp_path: Path) -> None:
    model = tmp_path / "engine"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.plan").write_bytes(b"not an engine")
    (model / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')
    server = Server(ServerOptions(model_repositories=[tmp_path], model_control_mode="explicit",
                                  allow_http=False, allow_grpc=False, allow_metrics=False))

    async def go() -> str:
        await server.start()
        try:
            await server.load_model("engine")
        except TritonError as exc:
            return exc.message
        finally:
            await server.stop()
        return ""

    message = asyncio.run(go())
    assert "not importable" in message and "pip install tensorrt" in message
