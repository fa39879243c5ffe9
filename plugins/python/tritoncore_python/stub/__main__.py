"""The stub process: runs one model instance's model.py for the server.

Started by the server as ``python -m tritoncore_python.stub SOCK_FD IN_FD OUT_FD GROWTH``
with three inherited descriptors: the control socket and the two arenas (server→stub inputs,
stub→server outputs). A reader thread takes messages off the socket; the main thread runs
the model (initialize, execute, finalize) so a model sees one thread, as in Triton.
"""

from __future__ import annotations

import sys


def _bootstrap() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError as exc:  # a foreign EXECUTION_ENV_PATH without numpy
        import os
        import pickle
        import socket
        import struct

        sock = socket.socket(fileno=int(sys.argv[1]))
        body = pickle.dumps({"op": "fatal", "message": (
            f"the stub's Python ({sys.executable}, {sys.version.split()[0]}) cannot import "
            f"numpy: {exc}; install numpy in that environment")}, protocol=4)
        sock.sendall(struct.pack("<I", len(body)) + body)
        os._exit(3)


_bootstrap()

from tritoncore_python.stub.runner import main

main([int(a) for a in sys.argv[1:5]])
