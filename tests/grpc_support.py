"""What the gRPC and metrics tests share: a repository of test models, a server process that
can load the test-only ``testing`` backend, and small helpers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from serverproc import ServerProcess

TESTS = Path(__file__).resolve().parent
#: wire datatype -> the config's data_type
DTYPES = {"BOOL": "TYPE_BOOL", "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16",
          "UINT32": "TYPE_UINT32", "UINT64": "TYPE_UINT64", "INT8": "TYPE_INT8",
          "INT16": "TYPE_INT16", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64",
          "FP16": "TYPE_FP16", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64", "BF16": "TYPE_BF16",
          "BYTES": "TYPE_STRING"}


def write(repo: Path, name: str, text: str) -> None:
    (repo / name / "1").mkdir(parents=True, exist_ok=True)
    (repo / name / "config.pbtxt").write_text(textwrap.dedent(text))


def identity(name: str, dtype: str, batch: int = 0, extra: str = "") -> str:
    return f"""
        name: "{name}"
        backend: "identity"
        max_batch_size: {batch}
        input [ {{ name: "INPUT0", data_type: {dtype}, dims: [ -1 ] }} ]
        output [ {{ name: "OUTPUT0", data_type: {dtype}, dims: [ -1 ] }} ]
        {extra}
    """


def testing(name: str, mode: str, extra: str = "") -> str:
    return f"""
        name: "{name}"
        backend: "testing"
        max_batch_size: 0
        input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
        output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
        parameters {{ key: "mode" value {{ string_value: "{mode}" }} }}
        {extra}
    """


def make_repo(repo: Path) -> Path:
    """Identity models for every datatype, add_sub-shaped, classification, and test models."""
    for wire, config in DTYPES.items():
        write(repo, f"identity_{wire.lower()}", identity(f"identity_{wire.lower()}", config))
    write(repo, "reloadable", identity("reloadable", "TYPE_FP32"))
    write(repo, "identity_batch", identity("identity_batch", "TYPE_FP32", batch=8))
    write(repo, "add_sub", """
        name: "add_sub"
        backend: "identity"
        max_batch_size: 0
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
                { name: "INPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
                 { name: "OUTPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
    """)
    write(repo, "classes", """
        name: "classes"
        backend: "identity"
        max_batch_size: 2
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ], label_filename: "labels.txt" } ]
    """)
    (repo / "classes" / "labels.txt").write_text("zero\none\ntwo\nthree\n")
    write(repo, "slow", identity("slow", "TYPE_FP32", extra='parameters { key: "execute_delay_ms" '
                                 'value { string_value: "300" } }'))
    write(repo, "decoupled", testing("decoupled", "decoupled",
                                     "model_transaction_policy { decoupled: true }"))
    write(repo, "failing", testing("failing", "raise"))
    return repo


def testing_site(site: Path) -> dict[str, str]:
    """Environment that lets a server process discover the ``testing`` backend."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / "tritoncore_testing_backend-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tritoncore-testing-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tritoncore]\ntesting = testing_backend\n")
    path = os.pathsep.join([str(site), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path.rstrip(os.pathsep)}


def start_server(tmp: Path, *args: str) -> ServerProcess:
    """A server over the test repository, every model loaded, client shm allowed."""
    repo = make_repo(tmp / "models")
    env = testing_site(tmp / "site")
    return ServerProcess(repo, "--model-control-mode=explicit", "--load-model=*",
                         "--allow-client-shm=true", *args, log_dir=tmp, env=env).start()
