"""The descriptor pool every tritoncore protocol module registers into.

tritoncore's messages share their full names with Triton's (package ``inference``), and so with
the modules ``tritonclient`` ships. Protobuf's default pool refuses a second, different file that
defines the same names, so importing both in one process would fail. Our generated modules
therefore use this private pool (``scripts/gen_protos.py`` rewrites them to), and stay
wire-, text- and JSON-compatible with Triton's.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
