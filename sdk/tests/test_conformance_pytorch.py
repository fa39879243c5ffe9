"""The conformance kit against the in-repo 'pytorch' backend (CI runs it; the verdict table
prints at the end of the session)."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("tritoncore_pytorch")

from tritoncore_sdk.conformance import conformance_tests

sys.path.insert(0, str(Path(__file__).parent))
import inrepo_models

globals().update(conformance_tests("pytorch", models=inrepo_models.pytorch_models))
