"""The conformance kit against the in-repo 'onnxruntime' backend (CI runs it; the verdict table
prints at the end of the session)."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("tritoncore_onnxruntime")

from tritoncore_sdk.conformance import conformance_tests

sys.path.insert(0, str(Path(__file__).parent))
import inrepo_models

globals().update(conformance_tests("onnxruntime", models=inrepo_models.onnx_models))
