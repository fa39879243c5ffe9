"""Fill in what Triton fills in before it shows or uses a model config.

Matches what Triton 2.51 returns from ``/v2/models/<m>/config`` (see
``core/tests/data/triton251_config``):

- ``name`` from the model directory when the config has none;
- ``version_policy`` ``latest { num_versions: 1 }`` when unset;
- ``default_model_filename`` from the backend (``model.py``, ``model.pt`` ...) when empty;
- ``dynamic_batching.preferred_batch_size`` ``[max_batch_size]`` when empty and batching;
- ``sequence_batching.max_sequence_idle_microseconds`` 1000000 when 0;
- for models that are not ensembles: ``optimization.input_pinned_memory`` and
  ``output_pinned_memory`` ``{ enable: true }`` when unset; instance groups: with none, one
  group named after the model (count 1, ``default_kind``); unnamed groups become
  ``<model>_<index>``; count 0 becomes 1; KIND_AUTO becomes KIND_GPU when there are GPUs, else
  KIND_CPU; GPU groups without ``gpus`` list every GPU;
- for ensembles: ``model_transaction_policy { decoupled: false }`` when unset, no instance
  groups and no optimization block (Triton shows neither).
"""

from __future__ import annotations

from tritoncore.config import platforms
from tritoncore.protocol.model_config_pb2 import ModelConfig, ModelInstanceGroup

Kind = ModelInstanceGroup.Kind
DEFAULT_SEQUENCE_IDLE_US = 1_000_000


def is_ensemble(config: ModelConfig) -> bool:
    """True for ensemble models (by platform or by their scheduling block)."""
    return config.platform == platforms.ENSEMBLE or config.HasField("ensemble_scheduling")


def resolve_kind(kind: int, gpu_count: int) -> int:
    """KIND_AUTO as Triton resolves it: GPU when this machine has one, else CPU."""
    if kind == Kind.KIND_AUTO:
        return Kind.KIND_GPU if gpu_count > 0 else Kind.KIND_CPU
    return kind


def _fill_instance_groups(config: ModelConfig, gpu_count: int, default_kind: int) -> None:
    if not config.instance_group:
        kind = default_kind
        if kind == Kind.KIND_GPU and gpu_count == 0:
            kind = Kind.KIND_CPU  # a GPU-preferring backend on a machine without GPUs
        config.instance_group.add(name=config.name, kind=kind)
    for index, group in enumerate(config.instance_group):
        if not group.name:
            group.name = f"{config.name}_{index}"
        group.count = max(group.count, 1)
        group.kind = resolve_kind(group.kind, gpu_count)
        if group.kind == Kind.KIND_GPU and not group.gpus:
            group.gpus.extend(range(gpu_count))


def _fill_optimization(config: ModelConfig) -> None:
    optimization = config.optimization
    if not optimization.HasField("input_pinned_memory"):
        optimization.input_pinned_memory.enable = True
    if not optimization.HasField("output_pinned_memory"):
        optimization.output_pinned_memory.enable = True


def _fill_scheduling(config: ModelConfig) -> None:
    if config.HasField("dynamic_batching"):
        batching = config.dynamic_batching
        if not batching.preferred_batch_size and config.max_batch_size > 0:
            batching.preferred_batch_size.append(config.max_batch_size)
    elif config.HasField("sequence_batching"):
        sequence = config.sequence_batching
        if sequence.max_sequence_idle_microseconds == 0:
            sequence.max_sequence_idle_microseconds = DEFAULT_SEQUENCE_IDLE_US


def fill_defaults(
    config: ModelConfig,
    *,
    model_name: str | None = None,
    gpu_count: int = 0,
    default_kind: int = Kind.KIND_CPU,
) -> ModelConfig:
    """A copy of ``config`` with Triton's defaults filled in; ``config`` is left unchanged.

    ``default_kind`` is the kind for the one group made when the config has none: KIND_CPU,
    or KIND_GPU / KIND_AUTO for a backend that prefers GPUs (falls back to CPU without GPUs).
    Call after ``resolve_backend`` so the default model file name is known.
    """
    filled = ModelConfig()
    filled.CopyFrom(config)
    if not filled.name and model_name:
        filled.name = model_name
    if not filled.HasField("version_policy"):
        filled.version_policy.latest.num_versions = 1
    _fill_scheduling(filled)
    if is_ensemble(filled):
        filled.model_transaction_policy.SetInParent()  # shown as {"decoupled": false}
        return filled
    backend = filled.backend or platforms.backend_for_platform(filled.platform) or ""
    if not filled.default_model_filename:
        filled.default_model_filename = platforms.default_model_filename(backend)
    _fill_optimization(filled)
    _fill_instance_groups(filled, gpu_count, resolve_kind(default_kind, gpu_count))
    return filled
