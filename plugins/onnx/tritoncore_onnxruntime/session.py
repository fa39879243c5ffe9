"""Build one ONNX Runtime session: options from the model config, providers from the
instance kind and ``optimization.execution_accelerators``.

Config keys are Triton's ONNX Runtime backend's: parameters ``intra_op_thread_count``,
``inter_op_thread_count``, ``execution_mode`` (0 sequential, 1 parallel),
``enable_mem_arena``, ``enable_mem_pattern``, ``memory.enable_memory_arena_shrinkage``,
``session.use_device_allocator_for_initializers``; ``optimization { graph { level } }`` with
-1 basic, 1 extended, 2 none, anything else (0, unset) all optimizations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort
from tritoncore.errors import invalid_arg, unavailable

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"

#: accelerator name in config.pbtxt -> ONNX Runtime provider
ACCELERATORS = {"tensorrt": TENSORRT, "cuda": CUDA, "openvino": OPENVINO}

_GRAPH_LEVELS = {
    -1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    1: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    2: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


@dataclass
class SessionPlan:
    """What one instance's session is built with."""

    options: ort.SessionOptions
    providers: list[tuple[str, dict[str, str]]]
    run_options: ort.RunOptions | None = None
    warnings: list[str] = field(default_factory=list)


def _params(config: Any) -> dict[str, str]:
    return {key: value.string_value for key, value in config.parameters.items()}


def _int(config: Any, params: dict[str, str], key: str, allowed: range | None = None) -> int:
    try:
        value = int(params[key])
    except ValueError:
        value = -1
    if value < 0 or (allowed is not None and value not in allowed):
        raise invalid_arg(f"model '{config.name}': parameter {key} must be "
                          f"{'one of ' + str(list(allowed)) if allowed else 'a non-negative integer'}"
                          f", got '{params[key]}'")
    return value


def _flag(config: Any, params: dict[str, str], key: str) -> bool:
    value = params[key].strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise invalid_arg(f"model '{config.name}': parameter {key} must be 0/1 or true/false, got "
                      f"'{params[key]}'")


def session_options(config: Any) -> tuple[ort.SessionOptions, ort.RunOptions | None]:
    """SessionOptions (and RunOptions, when arena shrinkage is on) from the config."""
    params = _params(config)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; the backend logs what matters itself
    if "intra_op_thread_count" in params:
        options.intra_op_num_threads = _int(config, params, "intra_op_thread_count")
    if "inter_op_thread_count" in params:
        options.inter_op_num_threads = _int(config, params, "inter_op_thread_count")
    if "execution_mode" in params:
        mode = _int(config, params, "execution_mode", range(2))
        options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if mode == 1
                                  else ort.ExecutionMode.ORT_SEQUENTIAL)
    if "enable_mem_arena" in params:
        options.enable_cpu_mem_arena = _flag(config, params, "enable_mem_arena")
    if "enable_mem_pattern" in params:
        options.enable_mem_pattern = _flag(config, params, "enable_mem_pattern")
    if "session.use_device_allocator_for_initializers" in params and _flag(
            config, params, "session.use_device_allocator_for_initializers"):
        options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
    level = config.optimization.graph.level if config.optimization.HasField("graph") else 0
    options.graph_optimization_level = _GRAPH_LEVELS.get(
        level, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    run_options = None
    if "memory.enable_memory_arena_shrinkage" in params and _flag(
            config, params, "memory.enable_memory_arena_shrinkage"):
        if not options.enable_cpu_mem_arena:
            raise invalid_arg(f"model '{config.name}': memory.enable_memory_arena_shrinkage "
                              "needs the memory arena; remove enable_mem_arena: 0")
        run_options = ort.RunOptions()
        run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options, run_options


def providers(config: Any, kind: str, device_id: int,
              available: list[str] | None = None) -> tuple[list[tuple[str, dict[str, str]]],
                                                            list[str]]:
    """Providers in priority order, and warnings for those this onnxruntime lacks.

    GPU instances: the configured GPU accelerators (TensorRT EP), then CUDA, then CPU.
    CPU instances: the configured CPU accelerators (OpenVINO), then CPU.
    """
    have = set(ort.get_available_providers() if available is None else available)
    accelerators = config.optimization.execution_accelerators
    wanted: list[tuple[str, dict[str, str]]] = []
    group = (accelerators.gpu_execution_accelerator if kind == "KIND_GPU"
             else accelerators.cpu_execution_accelerator)
    for accelerator in group:
        provider = ACCELERATORS.get(accelerator.name.lower())
        if provider is None:
            raise invalid_arg(
                f"model '{config.name}': unknown execution accelerator '{accelerator.name}' "
                f"(known: {', '.join(ACCELERATORS)})"
            )
        wanted.append((provider, _provider_options(provider, dict(accelerator.parameters),
                                                   device_id)))
    if kind == "KIND_GPU" and all(p != CUDA for p, _ in wanted):
        wanted.append((CUDA, {"device_id": str(device_id)}))
    chosen = []
    warnings = []
    for provider, options in wanted:
        if provider in have:
            chosen.append((provider, options))
        else:
            warnings.append(f"{provider} is not available in this onnxruntime build "
                            f"(available: {', '.join(sorted(have))})")
    chosen.append((CPU, {}))
    return chosen, warnings


def _provider_options(provider: str, params: dict[str, str], device_id: int) -> dict[str, str]:
    """Triton's accelerator parameters in ONNX Runtime's provider option names."""
    options: dict[str, str] = {}
    if provider in (CUDA, TENSORRT):
        options["device_id"] = str(device_id)
    if provider == TENSORRT:
        renames = {"precision_mode": None, "max_workspace_size_bytes": "trt_max_workspace_size",
                   "trt_engine_cache_enable": "trt_engine_cache_enable",
                   "trt_engine_cache_path": "trt_engine_cache_path"}
        for key, value in params.items():
            if key == "precision_mode":
                options["trt_fp16_enable"] = "True" if value.upper() == "FP16" else "False"
                options["trt_int8_enable"] = "True" if value.upper() == "INT8" else "False"
            else:
                options[renames.get(key) or key] = value
    else:
        options.update(params)
    return options


def create(model: str, instance: str, path: Path, config: Any, kind: str,
           device_id: int) -> tuple[ort.InferenceSession, ort.RunOptions | None]:
    """A session for one instance; logs which provider runs it."""
    options, run_options = session_options(config)
    chosen, warnings = providers(config, kind, device_id)
    for warning in warnings:
        log.warning("model '%s' instance '%s': %s; falling back to %s", model, instance,
                    warning, chosen[0][0])
    try:
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=[p for p, _ in chosen],
                                       provider_options=[o for _, o in chosen])
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        raise unavailable(
            f"model '{model}': ONNX Runtime cannot load {path.name}: "
            f"{lines[0] if lines else type(exc).__name__}"
        ) from exc
    running = session.get_providers()
    if kind == "KIND_GPU" and running[0] == CPU:
        log.warning("model '%s' instance '%s' is KIND_GPU but ONNX Runtime runs it on %s",
                    model, instance, CPU)
    log.info("model '%s' instance '%s': ONNX Runtime runs on %s", model, instance,
             ", ".join(running))
    return session, run_options
