"""Triton's module name for the Python backend API: ``import triton_python_backend_utils as pb_utils``.

Inside a stub the same module object is used; importing it elsewhere (IDEs, unit tests of a
model) gives the same classes, with the server-backed calls unavailable.
"""

from tritoncore_python.stub.pb_utils import *
from tritoncore_python.stub.pb_utils import _RUNTIME  # noqa: F401
