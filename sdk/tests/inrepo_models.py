"""Conformance model repositories for the in-repo backends (python, pytorch, onnxruntime,
ensemble): each writer fills a directory and returns ``{model: role}``."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tritoncore import dtypes


def _write(repo: Path, name: str, config: str, files: dict[str, bytes | str] | None = None) -> None:
    model = repo / name
    (model / "1").mkdir(parents=True, exist_ok=True)
    if config:
        (model / "config.pbtxt").write_text(textwrap.dedent(config))
    for rel, data in (files or {}).items():
        path = model / "1" / rel
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)


def _pairs(types: list[str], prefix_in: str = "INPUT", prefix_out: str = "OUTPUT",
           dims: str = "[ -1 ]") -> tuple[str, str]:
    ins = ", ".join(f'{{ name: "{prefix_in}{i}", data_type: TYPE_{"STRING" if t == "BYTES" else t}, '
                    f"dims: {dims} }}" for i, t in enumerate(types))
    outs = ", ".join(f'{{ name: "{prefix_out}{i}", data_type: TYPE_{"STRING" if t == "BYTES" else t}, '
                     f"dims: {dims} }}" for i, t in enumerate(types))
    return f"input [ {ins} ]", f"output [ {outs} ]"


ALL = [t.name for t in dtypes.TABLE]

# ------------------------------------------------------------------------------------------
# python
# ------------------------------------------------------------------------------------------

PY_IDENTITY = '''
import json
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.pairs = [(i["name"], o["name"]) for i, o in zip(config["input"], config["output"])]

    def execute(self, requests):
        return [pb_utils.InferenceResponse([
            pb_utils.Tensor(out, pb_utils.get_input_tensor_by_name(r, inp).as_numpy())
            for inp, out in self.pairs]) for r in requests]
'''

PY_DECOUPLED = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for r in requests:
            sender = r.get_response_sender()
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            for _ in range(2):
                sender.send(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x)]))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None
'''

PY_ERROR = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse(error=pb_utils.TritonError(
            "conformance: this model fails every request")) for _ in requests]
'''

PY_AUTO = '''
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(config):
        config.add_input({"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [-1]})
        config.add_output({"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [-1]})
        return config

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())])
            for r in requests]
'''

#: BF16 has no numpy type: a Python model returning the uint16 bit patterns sends UINT16.
PYTHON_TYPES = [t for t in ALL if t != "BF16"]


def python_models(repo: Path) -> dict[str, str]:
    ins, outs = _pairs(PYTHON_TYPES)
    _write(repo, "identity_types", f'backend: "python"\n{ins}\n{outs}\n',
           {"model.py": PY_IDENTITY})
    _write(repo, "identity_batched", '''
        backend: "python"
        max_batch_size: 8
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
        dynamic_batching { max_queue_delay_microseconds: 5000 }
        instance_group [ { count: 2, kind: KIND_CPU } ]
        ''', {"model.py": PY_IDENTITY})
    _write(repo, "decoupled", '''
        backend: "python"
        model_transaction_policy { decoupled: true }
        input [ { name: "INPUT0", data_type: TYPE_INT32, dims: [ 2 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ 2 ] } ]
        ''', {"model.py": PY_DECOUPLED})
    _write(repo, "error", '''
        backend: "python"
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 2 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 2 ] } ]
        ''', {"model.py": PY_ERROR})
    _write(repo, "autocomplete", 'backend: "python"\n', {"model.py": PY_AUTO})
    return {"identity_types": "identity", "identity_batched": "identity",
            "decoupled": "decoupled", "error": "error", "autocomplete": "autocomplete"}


# ------------------------------------------------------------------------------------------
# pytorch
# ------------------------------------------------------------------------------------------

#: Every type but BYTES (no torch dtype).
TORCH_TYPES = [t for t in ALL if t != "BYTES"]


def pytorch_models(repo: Path) -> dict[str, str]:
    import io

    import torch

    def saved(module: torch.nn.Module) -> bytes:
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(module), buf)
        return buf.getvalue()

    class One(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.clone()

    class Fails(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.numel() >= 0:
                raise RuntimeError("conformance: this model fails every request")
            return x

    one = saved(One())
    for t in TORCH_TYPES:  # one single-tensor model per type keeps it simple
        _write(repo, f"identity_{t.lower()}", f'''
            platform: "pytorch_libtorch"
            input [ {{ name: "INPUT__0", data_type: TYPE_{t}, dims: [ -1 ] }} ]
            output [ {{ name: "OUTPUT__0", data_type: TYPE_{t}, dims: [ -1 ] }} ]
            ''', {"model.pt": one})
    _write(repo, "identity_batched", '''
        platform: "pytorch_libtorch"
        max_batch_size: 8
        input [ { name: "INPUT__0", data_type: TYPE_FP32, dims: [ 4 ] } ]
        output [ { name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ 4 ] } ]
        dynamic_batching { max_queue_delay_microseconds: 5000 }
        instance_group [ { count: 2, kind: KIND_CPU } ]
        ''', {"model.pt": one})
    _write(repo, "error", '''
        platform: "pytorch_libtorch"
        input [ { name: "INPUT__0", data_type: TYPE_FP32, dims: [ 2 ] } ]
        output [ { name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ 2 ] } ]
        ''', {"model.pt": saved(Fails())})
    roles = {f"identity_{t.lower()}": "identity" for t in TORCH_TYPES}
    return {**roles, "identity_batched": "identity", "error": "error"}


# ------------------------------------------------------------------------------------------
# onnxruntime
# ------------------------------------------------------------------------------------------

#: BF16 is left out by the plugin (onnxruntime's Python API cannot feed it). BYTES is left out
#: because the kit found that the plugin fails on BYTES elements that are not UTF-8 (onnxruntime
#: wants str): claim it again once the plugin round-trips arbitrary bytes.
ONNX_TYPES = [t for t in ALL if t not in ("BF16", "BYTES")]


def onnx_models(repo: Path) -> dict[str, str]:
    import onnx
    from onnx import TensorProto, helper

    elem = {"BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
            "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64,
            "INT8": TensorProto.INT8, "INT16": TensorProto.INT16, "INT32": TensorProto.INT32,
            "INT64": TensorProto.INT64, "FP16": TensorProto.FLOAT16,
            "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE, "BYTES": TensorProto.STRING}

    def model(nodes: list, ins: list, outs: list, inits: list | None = None) -> bytes:
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in ins],
            [helper.make_tensor_value_info(n, t, s) for n, t, s in outs],
            initializer=inits or [])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m.SerializeToString()

    one = {t: model([helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
                    [("INPUT0", elem[t], [2, "n"])], [("OUTPUT0", elem[t], [2, "n"])])
           for t in ONNX_TYPES}
    for t in ONNX_TYPES:
        ins, outs = _pairs([t], dims="[ 2, -1 ]")
        _write(repo, f"identity_{t.lower()}", f'platform: "onnxruntime_onnx"\n{ins}\n{outs}\n',
               {"model.onnx": one[t]})
    batched = model([helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
                    [("INPUT0", TensorProto.FLOAT, ["batch", 4])],
                    [("OUTPUT0", TensorProto.FLOAT, ["batch", 4])])
    _write(repo, "identity_batched", '''
        platform: "onnxruntime_onnx"
        max_batch_size: 8
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] } ]
        dynamic_batching { max_queue_delay_microseconds: 5000 }
        instance_group [ { count: 2, kind: KIND_CPU } ]
        ''', {"model.onnx": batched})
    # Reshape to 7 elements: fails at run time for the 2-element inputs the kit sends.
    fails = model([helper.make_node("Reshape", ["INPUT0", "shape"], ["OUTPUT0"])],
                  [("INPUT0", TensorProto.FLOAT, [2])], [("OUTPUT0", TensorProto.FLOAT, [7])],
                  [helper.make_tensor("shape", TensorProto.INT64, [1], [7])])
    _write(repo, "error", '''
        platform: "onnxruntime_onnx"
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 2 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 7 ] } ]
        ''', {"model.onnx": fails})
    _write(repo, "autocomplete", "", {"model.onnx": batched})
    roles = {f"identity_{t.lower()}": "identity" for t in ONNX_TYPES}
    return {**roles, "identity_batched": "identity", "error": "error",
            "autocomplete": "autocomplete"}


# ------------------------------------------------------------------------------------------
# ensemble (steps served by the identity example backend and the python backend)
# ------------------------------------------------------------------------------------------

ENSEMBLE = '''
platform: "ensemble"
max_batch_size: {mbs}
{ins}
{outs}
ensemble_scheduling {{ step [
  {{ model_name: "{first}" model_version: -1
    input_map {{ key: "INPUT0" value: "INPUT0" }} output_map {{ key: "OUTPUT0" value: "mid" }} }},
  {{ model_name: "{second}" model_version: -1
    input_map {{ key: "INPUT0" value: "mid" }} output_map {{ key: "OUTPUT0" value: "OUTPUT0" }} }}
] }}
'''


def ensemble_models(repo: Path) -> dict[str, str]:
    step = '''
        backend: "identity"
        max_batch_size: {mbs}
        input [ {{ name: "INPUT0", data_type: TYPE_{t}, dims: [ -1 ] }} ]
        output [ {{ name: "OUTPUT0", data_type: TYPE_{t}, dims: [ -1 ] }} ]
        '''
    roles = {}
    for t in ("FP32", "INT64", "BYTES", "BOOL", "FP16"):
        mbs = 4 if t == "FP32" else 0
        _write(repo, f"step_{t.lower()}", step.format(mbs=mbs, t="STRING" if t == "BYTES" else t))
        ins, outs = _pairs([t])
        _write(repo, f"identity_{t.lower()}", ENSEMBLE.format(
            mbs=mbs, ins=ins, outs=outs, first=f"step_{t.lower()}", second=f"step_{t.lower()}"))
        roles[f"identity_{t.lower()}"] = "identity"
    _write(repo, "step_error", '''
        backend: "python"
        input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
        output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] } ]
        ''', {"model.py": PY_ERROR})
    ins, outs = _pairs(["FP32"])
    _write(repo, "error", ENSEMBLE.format(mbs=0, ins=ins, outs=outs, first="step_error",
                                          second="step_error"))
    roles["error"] = "error"
    return roles
