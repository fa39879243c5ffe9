"""The conformance kit against the in-repo 'ensemble' backend (CI runs it; the verdict table
prints at the end of the session)."""

import sys
from pathlib import Path

from tritoncore_sdk.conformance import conformance_tests

sys.path.insert(0, str(Path(__file__).parent))
import inrepo_models

globals().update(conformance_tests("ensemble", models=inrepo_models.ensemble_models))
