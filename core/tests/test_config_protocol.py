"""The generated protocol modules: reproducible, Triton-numbered, importable next to tritonclient."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from tritoncore.protocol import model_config_pb2, server_config_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "core" / "tritoncore" / "protocol"


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="needs grpcio-tools")
def test_regenerating_gives_the_checked_in_modules(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    generated = sorted((tmp_path / "tritoncore" / "protocol").glob("*_pb2*.py*"))
    assert generated, "the script generated nothing"
    for module in generated:
        checked_in = PROTOCOL / module.name
        assert checked_in.read_bytes() == module.read_bytes(), f"{module.name} is stale"
    assert {m.name for m in generated} == {m.name for m in PROTOCOL.glob("*_pb2*.py*")}


@pytest.mark.parametrize(
    ("message", "field", "number"),
    [
        (model_config_pb2.ModelConfig, "backend", 17),
        (model_config_pb2.ModelConfig, "runtime", 25),
        (model_config_pb2.ModelConfig, "dynamic_batching", 11),
        (model_config_pb2.ModelConfig, "sequence_batching", 13),
        (model_config_pb2.ModelConfig, "ensemble_scheduling", 15),
        (model_config_pb2.ModelConfig, "instance_group", 7),
        (model_config_pb2.ModelConfig, "model_warmup", 16),
        (model_config_pb2.ModelConfig, "response_cache", 24),
        (model_config_pb2.ModelInstanceGroup, "kind", 4),
        (model_config_pb2.ModelInstanceGroup, "host_policy", 9),
        (model_config_pb2.ModelOutput, "label_filename", 4),
        (model_config_pb2.ModelOutput, "reshape", 5),
        (model_config_pb2.ModelSequenceBatching.Control, "bool_false_true", 5),
        (model_config_pb2.ModelDynamicBatching, "priority_queue_policy", 7),
        (server_config_pb2.ServerConfig, "backend_config", 2),
    ],
)
def test_field_numbers_match_triton(message: type, field: str, number: int) -> None:
    assert message.DESCRIPTOR.fields_by_name[field].number == number


def test_scheduling_choice_is_one_oneof() -> None:
    oneof = model_config_pb2.ModelConfig.DESCRIPTOR.oneofs_by_name["scheduling_choice"]
    assert [f.name for f in oneof.fields] == [
        "dynamic_batching",
        "sequence_batching",
        "ensemble_scheduling",
    ]


def test_wire_compatible_with_tritonclient_in_the_same_process() -> None:
    tc = pytest.importorskip("tritonclient.grpc.model_config_pb2")
    ours = model_config_pb2.ModelConfig(name="m", max_batch_size=8)
    ours.input.add(name="x", data_type=model_config_pb2.TYPE_FP32, dims=[-1, 3])
    theirs = tc.ModelConfig.FromString(ours.SerializeToString())
    assert theirs.name == "m" and list(theirs.input[0].dims) == [-1, 3]
    assert model_config_pb2.ModelConfig.FromString(theirs.SerializeToString()) == ours
