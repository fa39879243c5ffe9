"""The conformance kit against the in-repo 'python' backend (CI runs it; the verdict table
prints at the end of the session)."""

import sys
from pathlib import Path

from tritoncore_sdk.conformance import conformance_tests

sys.path.insert(0, str(Path(__file__).parent))
import inrepo_models

globals().update(conformance_tests("python", models=inrepo_models.python_models))
