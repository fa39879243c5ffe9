"""After ``initialize`` a stub keeps what start-up built out of the garbage collector's passes
(``gc.freeze``) and collects its young generation less often, as the server does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from test_python_backend import out, repo, req, run, serve  # noqa: F401 - repo is a fixture

PROBE = '''
import gc
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.at_init = (gc.get_freeze_count(), gc.get_threshold()[0])

    def execute(self, requests):
        now = (gc.get_freeze_count(), gc.get_threshold()[0])
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUT", np.array(self.at_init + now, dtype=np.int64))]) for _ in requests]
'''
CONFIG = '''
name: "gc_probe"
backend: "python"
input [ { name: "IN", data_type: TYPE_INT64, dims: [ 1 ] } ]
output [ { name: "OUT", data_type: TYPE_INT64, dims: [ 4 ] } ]
'''


def test_the_heap_built_by_initialize_is_frozen(repo: Path) -> None:  # noqa: F811
    (repo / "gc_probe" / "1").mkdir(parents=True)
    (repo / "gc_probe" / "config.pbtxt").write_text(textwrap.dedent(CONFIG))
    (repo / "gc_probe" / "1" / "model.py").write_text(textwrap.dedent(PROBE))

    async def go() -> list[int]:
        async with serve(repo, load_models=["gc_probe"]) as server:
            r = await server.infer(req("gc_probe", IN=np.array([1], np.int64)))
            return [int(v) for v in out(r, "OUT")]

    frozen_at_init, threshold_at_init, frozen, threshold = run(go())
    assert (frozen_at_init, threshold_at_init) == (0, 700)  # Python's defaults until then
    assert frozen > 1000  # numpy, pb_utils, the model module and the model object
    assert threshold == 50_000
