"""``tritoncore`` as a user runs it: a real process, its exit codes and its shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_model
from serverproc import ServerProcess

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "model_repository"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tritoncore", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_serves_the_example_repository_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = ServerProcess(EXAMPLES, log_dir=tmp_path).start()
    assert server.stop() == 0
    log = server.log()
    assert "model identity_fp32" in log and "READY" in log
    assert "started (ready: True)" in log and "shutting down" in log


@pytest.mark.parametrize("args, message", [
    (["--model-repository", ".", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--model-repository", ".", "--exit-on-error", "maybe"], "expected true or false"),
    (["--model-repository", ".", "--http-port", "70000"], "port 70000 is outside 0..65535"),
    (["--model-repository", ".", "--model-control-mode", "sometimes"], "invalid choice"),
    (["--model-repository", "/no/such/dir"], "/no/such/dir: not a directory"),
    (["--model-repository", ".", "--load-model", "m"], "--load-model needs"),
    (["--model-repository", ".", "--backend-config", "python,novalue"], "expected <backend>"),
    ([], "the following arguments are required: --model-repository"),
    (["--model-repository", ".", "--busy-poll-microseconds", "-5"], "expected an integer >= 0"),
])
def test_bad_flags_exit_with_code_2(args: list[str], message: str) -> None:
    result = run_cli("serve", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_failed_model_exits_1_unless_exit_on_error_false(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_model(repo, "nobackend", text='name: "nobackend"\nbackend: "nosuchbackend"')
    result = run_cli("serve", "--model-repository", str(repo), "--allow-http", "false",
                     "--allow-grpc", "false", "--allow-metrics", "false")
    assert result.returncode == 1
    assert "no backend named 'nosuchbackend' is installed" in result.stderr
    server = ServerProcess(repo, "--exit-on-error=false", log_dir=tmp_path).start()
    assert "started (ready: False)" in server.log()
    assert server.stop() == 0


def test_backends_lists_installed_plugins() -> None:
    result = run_cli("backends")
    assert result.returncode == 0
    assert any(line.split()[:2] == ["identity", "tritoncore-identity"]
               for line in result.stdout.splitlines())
