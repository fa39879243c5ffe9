"""The kit fails backends that break the contract (a leaky, type-mangling, never-ready one)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tritoncore.backend import Backend, InstanceContext, Model, ModelContext, ModelInstance
from tritoncore.hookspecs import hookimpl
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor
from tritoncore_sdk.conformance.checks import CHECKS, CheckFailed
from tritoncore_sdk.conformance.harness import Harness
from tritoncore_sdk.conformance.target import Target

STOP = threading.Event()


class BadInstance(ModelInstance):
    def __init__(self) -> None:  # leaks a thread per instance, never stopped
        threading.Thread(target=STOP.wait, daemon=True, name="leaked-by-bad").start()

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        out = []
        for r in requests:  # answers INT32 as FP32 bits: a dtype round trip failure
            t = r.inputs["INPUT0"]
            out.append(InferenceResponse([Tensor.from_numpy("OUTPUT0",
                                                            t.as_numpy().view("float32"))]))
        return out

    def ready(self) -> bool:
        return False


class BadModel(Model):
    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        return BadInstance()


class BadBackend(Backend):
    name = "bad"

    def load_model(self, ctx: ModelContext) -> Model:
        return BadModel()


class Plugin:
    @hookimpl
    def tritoncore_register_backends(self, register: Callable[[type[Backend]], None]) -> None:
        register(BadBackend)


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    global STOP
    STOP = threading.Event()  # the leaked threads of this test live until its teardown

    def plugins() -> PluginManager:
        pm = PluginManager()
        pm.register(Plugin(), name="bad")
        return pm

    monkeypatch.setattr(Harness, "plugins_factory", plugins)
    (tmp_path / "identity_i32" / "1").mkdir(parents=True)
    (tmp_path / "identity_i32" / "config.pbtxt").write_text(
        'backend: "bad"\ninput [ { name: "INPUT0", data_type: TYPE_INT32, dims: [ 2 ] } ]\n'
        'output [ { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ 2 ] } ]\n')
    yield Target("bad", tmp_path, {"identity_i32": "identity"})
    STOP.set()


@pytest.mark.parametrize("check, message", [
    ("readiness", "loaded but is not ready"),
    ("load_unload_cycles", "more thread(s)"),
    ("dtype_round_trip", "INT32: model 'identity_i32' request 0: output 'OUTPUT0' is FP32"),
])
def test_the_kit_reports_what_is_wrong(target: Target, check: str, message: str) -> None:
    with pytest.raises(CheckFailed) as failed:
        asyncio.run(CHECKS[check](target))
    assert message in str(failed.value)
