"""Standard test models for the conformance kit (``pytest --tritoncore-backend=identity``)."""

from __future__ import annotations

from pathlib import Path

from tritoncore import dtypes
from tritoncore.hookspecs import hookimpl

BATCHED = """name: "identity_batched"
backend: "identity"
max_batch_size: 8
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 2000 }
instance_group [ { count: 2, kind: KIND_CPU } ]
parameters { key: "execute_delay_ms" value { string_value: "2" } }
"""


def _all_types() -> str:
    """One unbatched model with an input/output pair of every datatype of the table."""
    ins, outs = [], []
    for i, t in enumerate(dtypes.TABLE):
        ins.append(f'{{ name: "INPUT{i}", data_type: {t.config_name}, dims: [ 2, -1 ] }}')
        outs.append(f'{{ name: "OUTPUT{i}", data_type: {t.config_name}, dims: [ 2, -1 ] }}')
    return (f'name: "identity_all_types"\nbackend: "identity"\nmax_batch_size: 0\n'
            f'input [ {", ".join(ins)} ]\noutput [ {", ".join(outs)} ]\n')


@hookimpl
def tritoncore_conformance_models(backend: str, repository: Path) -> dict[str, str] | None:
    if backend != "identity":
        return None
    for name, text in (("identity_batched", BATCHED), ("identity_all_types", _all_types())):
        (repository / name / "1").mkdir(parents=True, exist_ok=True)
        (repository / name / "config.pbtxt").write_text(text)
    return {"identity_batched": "identity", "identity_all_types": "identity"}
