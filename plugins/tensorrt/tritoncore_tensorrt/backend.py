"""The TensorRT backend: one engine per model version, one execution context per instance."""

from __future__ import annotations

from typing import Any

from tritoncore.backend import (
    AutoCompleteContext,
    Backend,
    InstanceContext,
    Model,
    ModelContext,
    ModelInstance,
)
from tritoncore_sdk import BatchedInstance

from tritoncore_tensorrt import library, plan

DEFAULT_FILE = "model.plan"


class TensorRTInstance(BatchedInstance):
    def __init__(self, ctx: InstanceContext, execution: Any) -> None:
        super().__init__(ctx, "tensorrt")
        self.execution = execution

    def compute(self, inputs: Any) -> Any:
        return self.execution.run(dict(inputs))


class TensorRTModel(Model):
    def __init__(self, ctx: ModelContext) -> None:
        from tritoncore_tensorrt import engine as eng

        self.ctx = ctx
        self.engine = eng.load_engine(ctx.model_file)
        self.io = eng.describe(self.engine)
        plan.check_config(ctx.config, self.io)

    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        from tritoncore_tensorrt import engine as eng

        group = next((g for g in self.ctx.config.instance_group
                      if ctx.name.startswith(g.name)), None)
        profile = plan.profile_for(ctx.index, self.engine.num_optimization_profiles,
                                   list(group.profile) if group is not None else [])
        return TensorRTInstance(ctx, eng.Execution(self.engine, self.io, profile, ctx.device_id))


class TensorRTBackend(Backend):
    name = "tensorrt"
    instance_kinds = ("KIND_GPU",)
    default_model_filename = DEFAULT_FILE

    def initialize(self, backend_config: Any) -> None:
        library.tensorrt()  # fail the first load with the install hint, not an ImportError

    def auto_complete_config(self, ctx: AutoCompleteContext) -> None:
        from tritoncore_tensorrt import engine as eng

        name = ctx.config.default_model_filename or DEFAULT_FILE
        versions = sorted((p for p in ctx.model_dir.iterdir() if p.name.isdigit()),
                          key=lambda p: int(p.name))
        if not versions or not (versions[-1] / name).is_file():
            return
        plan.complete_config(ctx.config, eng.describe(eng.load_engine(versions[-1] / name)))

    def load_model(self, ctx: ModelContext) -> Model:
        return TensorRTModel(ctx)
