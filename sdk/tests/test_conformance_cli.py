"""The kit from the command line, as a stranger runs it against the sample third-party backend
(examples/identity_backend, pip-installed from its own directory): the hook writes the models,
the table prints, the JSON verdict is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tritoncore_identity")


def kit(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "verdict.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
         "--tritoncore-backend=identity", f"--tritoncore-json={out}", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    return proc, json.loads(out.read_text()) if out.exists() else {}


def test_identity_backend_conforms_from_the_command_line(tmp_path: Path) -> None:
    proc, verdict = kit(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tritoncore conformance" in proc.stdout
    outcomes = {r["check"]: r["outcome"] for r in verdict["results"]}
    assert outcomes["discovery"] == "pass"
    assert outcomes["dtype_round_trip"] == "pass"
    assert outcomes["batch_split"] == "pass"
    assert outcomes["auto_complete"] == "skip"  # the identity backend offers none
    assert verdict["summary"]["identity"]["fail"] == 0


def test_selected_checks_and_a_repository_of_ones_own(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / "echo" / "1").mkdir(parents=True)
    (repo / "echo" / "config.pbtxt").write_text(
        'backend: "identity"\ninput [ { name: "I", data_type: TYPE_INT16, dims: [ 3 ] } ]\n'
        'output [ { name: "O", data_type: TYPE_INT16, dims: [ 3 ] } ]\n')
    (repo / "conformance.json").write_text('{"echo": "identity"}')
    proc, verdict = kit(tmp_path, f"--tritoncore-models={repo}",
                        "--tritoncore-checks=readiness,dtype_round_trip")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r["check"], r["outcome"]) for r in verdict["results"]] == [
        ("readiness", "pass"), ("dtype_round_trip", "pass")]
    assert "INT16" in verdict["results"][1]["detail"]


def test_a_backend_that_is_not_installed_fails_discovery(tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
         "--tritoncore-backend=nonesuch", "--tritoncore-checks=discovery",
         f"--tritoncore-json={out}"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    row = json.loads(out.read_text())["results"][0]
    assert row["outcome"] == "fail" and "no entry point named 'nonesuch'" in row["detail"]
