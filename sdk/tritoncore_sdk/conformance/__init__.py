"""The conformance kit: checks that a backend keeps the core's contract.

Two ways to run it, with the same checks, summary table and JSON:

* command line: ``pytest --tritoncore-backend=NAME [--tritoncore-models=PATH]
  [--tritoncore-json=FILE] [--tritoncore-checks=a,b]``;
* in a test module: ``globals().update(conformance_tests("NAME", models=PATH))``.

Without a model repository the backend's ``tritoncore_conformance_models`` hook writes one.
"""

from __future__ import annotations

from tritoncore_sdk.conformance.runner import CHECK_NAMES, conformance_tests

__all__ = ["CHECK_NAMES", "conformance_tests"]
