"""The checks. Each is ``async def check(target) -> str``: the detail of a pass, or it raises
``CheckSkipped``/``CheckFailed`` with the reason. Every check runs its own in-process server."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from importlib import metadata
from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.backend import Backend
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.plugins import ENTRY_POINT_GROUP, PluginManager
from tritoncore.tensor import Tensor

from tritoncore_sdk.conformance import resources
from tritoncore_sdk.conformance.harness import (
    Harness,
    Outcome,
    identity_mismatch,
    make_request,
)
from tritoncore_sdk.conformance.target import Target

Check = Callable[[Target], Coroutine[Any, Any, str]]
CHECKS: dict[str, Check] = {}
CONCURRENCY = 32
CYCLES = 3


class CheckSkipped(Exception):
    """The check does not apply (the reason says why)."""


class CheckFailed(AssertionError):
    """The backend does not conform (the reason says how)."""


def check(name: str) -> Callable[[Check], Check]:
    def add(fn: Check) -> Check:
        fn.__doc__ = fn.__doc__ or name
        CHECKS[name] = fn
        return fn
    return add


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


async def _load(h: Harness, name: str) -> None:
    try:
        await h.load(name)
    except TritonError as exc:
        raise CheckFailed(f"model '{name}' failed to load: {exc.code.name}: {exc.message}") from exc


def _need(target: Target, role: str, why: str) -> list[str]:
    names = target.models(role)
    if not names:
        raise CheckSkipped(f"no '{role}' model in {target.repository} ({why})")
    return names


def _fail_if(problems: list[str], limit: int = 5) -> None:
    if problems:
        more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
        raise CheckFailed("; ".join(problems[:limit]) + more)


async def _identity_round(h: Harness, name: str, count: int, seed: int,
                          batches: tuple[int, ...] = (1,)) -> list[str]:
    """``count`` concurrent requests; problems with final responses or identity, in words."""
    config = h.config(name)
    rng = _rng(seed)
    requests = [make_request(name, config, rng, batch=batches[i % len(batches)])
                for i in range(count)]
    outcomes = await asyncio.gather(*(h.send(r) for r in requests))
    problems = []
    for i, o in enumerate(outcomes):
        why = o.final_problem() or identity_mismatch(config, o)
        if why:
            problems.append(f"model '{name}' request {i}: {why}")
    return problems


# ------------------------------------------------------------------------------------------


@check("discovery")
async def discovery(target: Target) -> str:
    """The backend is found through its entry point and registers a Backend of that name."""
    plugins = PluginManager()
    eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
           if ep.name == target.backend]
    if not eps:
        if target.backend in plugins.backends:
            raise CheckSkipped(f"'{target.backend}' is built into the core (no entry point)")
        raise CheckFailed(
            f"no entry point named '{target.backend}' in group '{ENTRY_POINT_GROUP}': add "
            f"[project.entry-points.{ENTRY_POINT_GROUP}] {target.backend} = \"your.module\" to "
            "pyproject.toml and reinstall")
    if len(eps) > 1:
        raise CheckFailed(f"{len(eps)} installed distributions claim backend '{target.backend}'")
    try:
        cls = plugins.backend_class(target.backend)
    except TritonError as exc:
        raise CheckFailed(exc.message) from exc
    if not issubclass(cls, Backend) or cls.name != target.backend:
        raise CheckFailed(f"entry point registered {cls!r}, not a Backend named "
                          f"'{target.backend}'")
    info = plugins.discovered[target.backend]
    return (f"entry point {target.backend} = {info.value} ({info.distribution} {info.version}) "
            f"registers {cls.__module__}.{cls.__qualname__}")


@check("auto_complete")
async def auto_complete(target: Target) -> str:
    """Models without a config.pbtxt load with inputs and outputs filled in, and serve."""
    cls = Harness.plugins_factory().backend_class(target.backend)
    if cls.auto_complete_config is Backend.auto_complete_config:
        raise CheckSkipped("the backend does not offer auto-complete (auto_complete_config is "
                           "not overridden)")
    names = _need(target, "autocomplete", "the backend offers auto-complete")
    async with Harness(target) as h:
        for name in names:
            await _load(h, name)
            config = h.config(name)
            if not config.inputs or not config.outputs:
                raise CheckFailed(f"model '{name}': auto-complete left "
                                  f"{len(config.inputs)} inputs, {len(config.outputs)} outputs")
            outcome = await h.send(make_request(name, config, _rng()))
            problem = outcome.final_problem() or (
                f"error {outcome.error.code.name}: {outcome.error.message}"
                if outcome.error else "")
            if problem:
                raise CheckFailed(f"model '{name}' (auto-completed): {problem}")
            await h.unload(name)
    return f"{len(names)} model(s) auto-completed and served: {', '.join(names)}"


@check("readiness")
async def readiness(target: Target) -> str:
    """Loaded models and their instances are ready; unloaded ones are not and refuse work."""
    names = [n for n, r in target.roles.items() if r != "autocomplete"]
    if not names:
        raise CheckSkipped(f"no models in {target.repository}")
    async with Harness(target) as h:
        for name in names:
            await _load(h, name)
            if not h.server.model_ready(name):
                raise CheckFailed(f"model '{name}' loaded but is not ready")
            bad = [r.name for r in h.server.model(name).runners if not r.instance.ready()]
            if bad:
                raise CheckFailed(f"model '{name}': instances {bad} report ready() False")
        if not h.server.is_ready():
            raise CheckFailed("the server is not ready with every model loaded")
        for name in names:
            config = h.config(name)
            await h.unload(name)
            if h.server.model_ready(name):
                raise CheckFailed(f"model '{name}' is still ready after unload")
            try:
                h.server.model(name)
            except TritonError:
                continue
            raise CheckFailed(f"model '{name}' still accepts requests after unload "
                              f"({len(config.inputs)} inputs)")
    return f"{len(names)} model(s) ready after load, not ready and refusing after unload"


@check("load_unload_cycles")
async def load_unload_cycles(target: Target) -> str:
    """Load, reload and unload cycles leave no threads, fds, processes or /dev/shm entries."""
    names = [n for n, r in target.roles.items() if r != "autocomplete"]
    if not names:
        raise CheckSkipped(f"no models in {target.repository}")
    async with Harness(target) as h:

        async def cycle(reload: bool) -> None:
            for name in names:
                await _load(h, name)
                if reload:
                    await _load(h, name)
            for name in names:
                await h.send(make_request(name, h.config(name), _rng()))
            for name in names:
                await h.unload(name)

        await cycle(reload=True)  # first use: lazy imports, thread pools, caches
        gc.collect()
        base = resources.settle(resources.snapshot(), timeout=1.0)
        for _ in range(CYCLES):
            await cycle(reload=True)
        gc.collect()
        after = resources.settle(base)
    leaks = after.leaks_since(base)
    if leaks:
        raise CheckFailed(f"after {CYCLES} load/reload/unload cycles: {'; '.join(leaks)}")
    return (f"{CYCLES} load/reload/unload cycles of {len(names)} model(s): {after.threads} "
            f"threads, {after.fds} fds, {len(after.children)} children, no new /dev/shm")


@check("one_final_response")
async def one_final_response(target: Target) -> str:
    """Under concurrency every request ends with exactly one final response, error or not."""
    names = target.models("identity") + target.models("error")
    if not names:
        raise CheckSkipped("no 'identity' or 'error' model")
    problems: list[str] = []
    async with Harness(target) as h:
        for name in names:
            await _load(h, name)
            if target.roles[name] == "identity":
                problems += await _identity_round(h, name, CONCURRENCY, seed=1)
            else:
                config = h.config(name)
                outcomes = await asyncio.gather(*(h.send(make_request(name, config, _rng(i)))
                                                  for i in range(CONCURRENCY)))
                problems += [f"model '{name}' request {i}: {o.final_problem()}"
                             for i, o in enumerate(outcomes) if o.final_problem()]
    _fail_if(problems)
    return f"{CONCURRENCY} concurrent requests to each of {len(names)} model(s)"


@check("cancellation")
async def cancellation(target: Target) -> str:
    """Cancelled requests still get exactly one final response: their result or CANCELLED."""
    name = _need(target, "identity", "cancellation is checked on identity models")[0]
    problems: list[str] = []
    cancelled_errors = 0
    async with Harness(target) as h:
        await _load(h, name)
        config = h.config(name)
        rng = _rng(2)
        requests = [make_request(name, config, rng) for _ in range(CONCURRENCY)]
        outcomes: list[Outcome] = await asyncio.gather(*(
            h.send(r, cancel_after_s=0.0 if i % 2 == 0 else None)
            for i, r in enumerate(requests)))
        for i, o in enumerate(outcomes):
            problem = o.final_problem()
            if not problem and o.error is not None and i % 2 == 0:
                if o.error.code is ErrorCode.CANCELLED:
                    cancelled_errors += 1
                    continue
                problem = (f"cancelled, then failed with {o.error.code.name} (expected the "
                           f"result or CANCELLED): {o.error.message}")
            problem = problem or identity_mismatch(config, o)
            if problem:
                problems.append(f"request {i}{' (cancelled)' if i % 2 == 0 else ''}: {problem}")
        for name_d in target.models("decoupled"):
            await _load(h, name_d)
            dconf = h.config(name_d)
            outs = await asyncio.gather(*(h.send(make_request(name_d, dconf, _rng(i)),
                                                 cancel_after_s=0.001) for i in range(8)))
            problems += [f"decoupled '{name_d}' request {i}: {o.final_problem()}"
                         for i, o in enumerate(outs) if o.final_problem()]
    _fail_if(problems)
    return (f"{CONCURRENCY // 2} of {CONCURRENCY} requests to '{name}' cancelled: "
            f"{cancelled_errors} ended CANCELLED, the rest with their result")


@check("errors")
async def errors(target: Target) -> str:
    """Invalid requests and failing models answer with Triton error codes and messages."""
    done = []
    problems: list[str] = []
    async with Harness(target) as h:
        identity = target.models("identity")
        if identity:
            name = identity[0]
            await _load(h, name)
            config = h.config(name)
            spec = config.inputs[0]
            request = make_request(name, config, _rng())
            wrong = "INT8" if spec.datatype != "INT8" else "FP32"
            arr = np.zeros(request.inputs[spec.name].shape, dtypes.by_name(wrong).numpy)
            request.inputs[spec.name] = Tensor.from_numpy(spec.name, arr, wrong)
            o = await h.send(request)
            if o.error is None or o.error.code is not ErrorCode.INVALID_ARG:
                problems.append(f"'{name}' with input '{spec.name}' as {wrong}: expected "
                                f"INVALID_ARG, got {o.error!r}")
            elif spec.name not in o.error.message:
                problems.append(f"the error does not name input '{spec.name}': "
                                f"{o.error.message}")
            done.append("a wrong datatype is INVALID_ARG naming the input")
        for name in target.models("error"):
            await _load(h, name)
            config = h.config(name)
            outcomes = await asyncio.gather(*(h.send(make_request(name, config, _rng(i)))
                                              for i in range(4)))
            for i, o in enumerate(outcomes):
                if o.final_problem():
                    problems.append(f"'{name}' request {i}: {o.final_problem()}")
                elif o.error is None:
                    problems.append(f"'{name}' request {i} succeeded; an 'error' model must "
                                    "fail every request")
                elif not isinstance(o.error.code, ErrorCode) or not o.error.message.strip():
                    problems.append(f"'{name}' request {i}: error without code or message")
            if not h.server.model_ready(name):
                problems.append(f"'{name}' is no longer ready after failing requests")
            done.append(f"'{name}' fails with {outcomes[0].error.code.name if outcomes[0].error else '?'}"
                        " and a message, stays ready")
    if not done:
        raise CheckSkipped("no 'identity' or 'error' model")
    _fail_if(problems)
    if not target.models("error"):
        done.append("no 'error' model, so backend-raised errors were not checked")
    return "; ".join(done)


@check("batch_split")
async def batch_split(target: Target) -> str:
    """Requests batched together get back their own slice of every output."""
    async with Harness(target) as h:
        candidates = []
        for name in target.models("identity"):
            await _load(h, name)
            config = h.config(name)
            if config.max_batch_size >= 2 and config.raw.HasField("dynamic_batching"):
                candidates.append((name, config))
        if not candidates:
            raise CheckSkipped("no identity model with max_batch_size >= 2 and dynamic_batching")
        details = []
        for name, config in candidates:
            log = h.spy(name)
            sizes = tuple(range(1, min(config.max_batch_size, 3) + 1))
            problems = await _identity_round(h, name, CONCURRENCY * 2, seed=3, batches=sizes)
            _fail_if(problems)
            batched = sum(1 for c in log.batch_sizes if c > 1)
            if not batched:
                raise CheckSkipped(f"'{name}': the dynamic batcher formed no batch of 2+ "
                                   "requests, so splitting could not be observed")
            details.append(f"'{name}': {batched} multi-request batches, up to "
                           f"{max(log.batch_sizes)} requests")
    return "; ".join(details)


@check("dtype_round_trip")
async def dtype_round_trip(target: Target) -> str:
    """Every datatype of the identity models comes back bit for bit."""
    names = _need(target, "identity", "identity models declare the datatypes a backend claims")
    ok: set[str] = set()
    failed: dict[str, str] = {}
    async with Harness(target) as h:
        for name in names:
            await _load(h, name)
            config = h.config(name)
            types = {s.datatype for s in config.inputs}
            problems = await _identity_round(h, name, 3, seed=4)
            if problems:
                for t in types:
                    failed[t] = problems[0]
            else:
                ok |= types
    if failed:
        raise CheckFailed("; ".join(f"{t}: {why}" for t, why in sorted(failed.items())))
    order = [t.name for t in dtypes.TABLE]
    return "round-trips " + ", ".join(sorted(ok, key=order.index))


@check("decoupled")
async def decoupled(target: Target) -> str:
    """Every request to a decoupled model ends with the final flag, and only once."""
    names = _need(target, "decoupled", "decoupled behaviour needs a decoupled model")
    total = 0
    problems: list[str] = []
    async with Harness(target) as h:
        for name in names:
            config = await h.load(name)
            if not config.decoupled:
                problems.append(f"'{name}' has no model_transaction_policy {{ decoupled: true }}")
                continue
            outcomes = await asyncio.gather(*(h.send(make_request(name, config, _rng(i)))
                                              for i in range(CONCURRENCY // 2)))
            for i, o in enumerate(outcomes):
                total += len(o.responses)
                problem = o.final_problem() or (f"error {o.error.code.name}: {o.error.message}"
                                                if o.error else "")
                if problem:
                    problems.append(f"'{name}' request {i}: {problem}")
    _fail_if(problems)
    return (f"{len(names)} model(s), {CONCURRENCY // 2} concurrent requests each, {total} "
            "responses, every request closed by one final flag")


@check("instance_parallelism")
async def instance_parallelism(target: Target) -> str:
    """Requests spread over a model's instances; one instance never runs two batches at once."""
    async with Harness(target) as h:
        name = None
        for candidate in target.models("identity"):
            await _load(h, candidate)
            if len(h.server.model(candidate).runners) >= 2:
                name = candidate
                break
        if name is None:
            raise CheckSkipped("no identity model with 2 or more instances")
        count = len(h.server.model(name).runners)
        log = h.spy(name)
        problems = await _identity_round(h, name, CONCURRENCY, seed=5)
        _fail_if(problems)
    used = log.instances_used()
    if len(used) < 2:
        raise CheckFailed(f"'{name}' has {count} instances but only {len(used)} executed "
                          f"{CONCURRENCY} concurrent requests")
    if log.same_instance_overlap():
        raise CheckFailed(f"'{name}': one instance held more batches at once than its "
                          "pipeline_depth")
    overlap = ("executions on different instances overlapped in time"
               if log.overlapping_instances()
               else "no overlap in time was observed (executions too short to tell)")
    return f"'{name}': {len(used)} of {count} instances served requests; {overlap}"
