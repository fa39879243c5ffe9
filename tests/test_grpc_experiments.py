"""The gRPC frontend imports grpc with EventEngine's listener off, leaving the environment as
it was (model processes must not inherit the setting) and a user's own setting alone."""

from __future__ import annotations

import os
import subprocess
import sys

SNIPPET = """
import os, sys
import tritoncore.frontends.grpc
print('grpc' in sys.modules, os.environ.get('GRPC_EXPERIMENTS'))
"""


def _run(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def test_environment_is_restored_after_import() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    assert _run(env) == "True None"


def test_a_users_setting_is_kept() -> None:
    env = {**os.environ, "GRPC_EXPERIMENTS": "-event_engine_client"}
    assert _run(env) == "True -event_engine_client"
