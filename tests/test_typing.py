"""Every package of the repository type-checks under mypy (``[tool.mypy]`` in pyproject.toml).

A change of an internal message or signature that the annotations no longer describe fails
here (the stub's tuple messages once did, silently), not in a reader's head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core/tritoncore", "plugins/python/tritoncore_python",
            "plugins/pytorch/tritoncore_pytorch", "plugins/onnx/tritoncore_onnxruntime",
            "plugins/tensorrt/tritoncore_tensorrt", "sdk/tritoncore_sdk",
            "examples/identity_backend/tritoncore_identity"]


def test_every_package_type_checks() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", *PACKAGES], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues found in" in out.stdout
