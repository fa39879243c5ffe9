"""A loaded ONNX model version: specs from the config, one session per instance."""

from __future__ import annotations

from tritoncore.backend import InstanceContext, Model, ModelContext, ModelInstance

from tritoncore_onnxruntime import files, session
from tritoncore_onnxruntime.instance import OnnxInstance
from tritoncore_onnxruntime.specs import check_against_model, specs


class OnnxModel(Model):
    """Checks the file at load; each instance builds its own session (as Triton does)."""

    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.max_batch_size = int(ctx.config.max_batch_size)
        self.inputs, self.outputs = specs(ctx.config)
        self.path = files.model_file(ctx.name, ctx.model_file)
        session.session_options(ctx.config)  # bad parameters fail the load, not an instance

    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        sess, run_options = session.create(self.name, ctx.name, self.path, self.ctx.config,
                                           ctx.kind, ctx.device_id)
        batching = self.max_batch_size > 0
        check_against_model(self.name, "input", self.inputs, sess.get_inputs(), batching)
        check_against_model(self.name, "output", self.outputs, sess.get_outputs(), batching)
        return OnnxInstance(self, ctx.name, ctx.kind, ctx.device_id, sess, run_options)
