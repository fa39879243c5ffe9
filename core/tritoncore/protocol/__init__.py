"""Protocol definitions: the .proto files and their generated ``*_pb2`` modules.

``model_config.proto`` is Triton's ModelConfig (package ``inference``, same names and numbers);
``server_config.proto`` is the tritoncore repository-level config extension. Regenerate the
modules with ``python scripts/gen_protos.py`` after editing a .proto file.
"""

from tritoncore.protocol._pool import POOL

__all__ = ["POOL"]
