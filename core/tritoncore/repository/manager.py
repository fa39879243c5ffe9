"""The model lifecycle: which models are loaded, in which state, and how they change.

Control modes as in Triton: ``none`` loads everything at start-up and refuses load/unload
requests; ``poll`` also rescans every ``repository_poll_secs`` and loads, reloads or unloads
what changed on disk; ``explicit`` loads only ``--load-model`` names (``*`` = all) and then
what clients ask for. A reload swaps in new versions only after they loaded; requests already
queued on the old versions finish there.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritoncore import asynccall
from tritoncore import config as cfgmod
from tritoncore.backend import AutoCompleteContext, Backend, ModelContext
from tritoncore.errors import ErrorCode, TritonError, invalid_arg, not_found
from tritoncore.options import GLOBAL, ServerOptions, merge_backend_config
from tritoncore.plugins import PluginManager
from tritoncore.protocol.model_config_pb2 import ModelInstanceGroup
from tritoncore.repository import overrides, scan
from tritoncore.repository.version import LoadedVersion, State

log = logging.getLogger(__name__)
Kind = ModelInstanceGroup.Kind


@dataclass
class VersionStatus:
    """A version's state and why it is in it."""

    state: State
    reason: str = ""


@dataclass
class ModelEntry:
    """What the manager knows about one model name."""

    name: str
    loaded: dict[int, LoadedVersion] = field(default_factory=dict)
    status: dict[int, VersionStatus] = field(default_factory=dict)
    reason: str = ""  # a model-level failure (bad config, unknown backend, ...)
    backend: str = ""
    fingerprint: tuple[Any, ...] = ()
    override_dir: Path | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RepositoryManager:
    """Loads, reloads and unloads models; answers which version serves a request."""

    def __init__(self, options: ServerOptions, plugins: PluginManager, gpu_count: int = 0,
                 server: Any = None) -> None:
        self.options = options
        self.server = server  # handed to backends in ModelContext.server
        self.plugins = plugins
        self.gpu_count = gpu_count
        self.models: dict[str, ModelEntry] = {}
        self.backends: dict[str, Backend] = {}
        self.executor = ThreadPoolExecutor(max(1, options.model_load_thread_count),
                                           thread_name_prefix="model-load")
        self._poller: asyncio.Task[None] | None = None
        self._backend_lock = asyncio.Lock()
        server_config = self._read_server_config()
        self._overrides = cfgmod.model_overrides(server_config) if server_config else {}
        self.backend_config = merge_backend_config(
            cfgmod.backend_settings(server_config) if server_config else {},
            options.backend_config,
        )

    # ---------------------------------------------------------------------------------------
    # start-up, polling, shutdown
    # ---------------------------------------------------------------------------------------

    def _read_server_config(self) -> Any:
        path = self.options.server_config
        if path is None:
            for repo in self.options.model_repositories:
                if (repo / scan.SERVER_CONFIG_NAME).is_file():
                    path = repo / scan.SERVER_CONFIG_NAME
                    break
        if path is None:
            return None
        found = scan.scan_repositories(self.options.model_repositories).models
        return cfgmod.load_server_config(path, known_models=set(found))

    async def start(self) -> list[str]:
        """Load the start-up models; returns the names that failed to load."""
        found = self._scan().models
        mode = self.options.model_control_mode
        if mode == "explicit":
            names = sorted(found) if "*" in self.options.load_models else self.options.load_models
        else:
            names = sorted(found)
        for name in names:
            self.models.setdefault(name, ModelEntry(name))
        ensembles = [n for n in names if n in found and self._is_ensemble(n, found[n])]
        for group in ([n for n in names if n not in ensembles], ensembles):  # steps first
            await asyncio.gather(*(self.load(name, _forced=True) for name in group),
                                 return_exceptions=True)
        for name in found:
            self.models.setdefault(name, ModelEntry(name))
        if mode == "poll":
            self._poller = asyncio.create_task(self._poll(), name="repository-poll")
        return [n for n in names if not self.is_ready(n)]

    def _is_ensemble(self, name: str, model_dir: Path) -> bool:
        try:
            return cfgmod.is_ensemble(self._config_for(name, model_dir, None))
        except TritonError:
            return False  # its load reports the problem

    def _scan(self) -> scan.Scan:
        result = scan.scan_repositories(self.options.model_repositories)
        for name, dirs in result.duplicates.items():
            entry = self.models.setdefault(name, ModelEntry(name))
            entry.reason = (f"model '{name}' appears in more than one repository: "
                            f"{', '.join(map(str, dirs))}")
        return result

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.options.repository_poll_secs)
            try:
                await self.poll_once()
            except Exception:
                log.exception("repository poll failed")

    async def poll_once(self) -> None:
        """Load new models, reload changed ones, unload removed ones."""
        found = self._scan()
        for name in [n for n in self.models if n not in found.models]:
            await self.unload(name, _forced=True)
            self.models.pop(name, None)
        for name, model_dir in found.models.items():
            entry = self.models.get(name)
            if entry is None or entry.fingerprint != scan.fingerprint(model_dir):
                await asyncio.gather(self.load(name, _forced=True), return_exceptions=True)

    async def stop(self) -> None:
        """Unload every model (in-flight requests finish first) and finalize backends."""
        if self._poller is not None:
            self._poller.cancel()
        await asyncio.gather(*(self.unload(n, _forced=True) for n in list(self.models)),
                             return_exceptions=True)
        self.executor.shutdown(wait=False)

    # ---------------------------------------------------------------------------------------
    # load / unload
    # ---------------------------------------------------------------------------------------

    def _check_control(self, forced: bool) -> None:
        if not forced and self.options.model_control_mode != "explicit":
            raise TritonError(
                ErrorCode.UNAVAILABLE,
                "explicit model load / unload is not allowed: the server runs with "
                f"--model-control-mode={self.options.model_control_mode}; start it with "
                "--model-control-mode=explicit",
            )

    async def load(self, name: str, config_json: str | None = None,
                   files: dict[str, bytes] | None = None, *, _forced: bool = False) -> None:
        """Load (or reload) ``name``; raises the reason when no version became ready."""
        self._check_control(_forced)
        if files and not config_json:
            raise invalid_arg(f"model '{name}': file overrides need a 'config' parameter too")
        entry = self.models.setdefault(name, ModelEntry(name))
        async with entry.lock:
            # an unload of a model only file overrides provided drops its entry (see unload):
            # a load that waited for it registers the entry again
            self.models.setdefault(name, entry)
            try:
                await self._load_locked(entry, config_json, files or {})
            except Exception as exc:
                error = exc if isinstance(exc, TritonError) else TritonError(
                    ErrorCode.INTERNAL, f"model '{name}': {_reason(name, exc)}")
                entry.reason = error.message
                for version, status in entry.status.items():
                    if version not in entry.loaded:
                        status.reason = status.reason or error.message
                log.error("failed to load '%s': %s", name, error.message)
                raise error from exc

    async def _load_locked(self, entry: ModelEntry, config_json: str | None,
                           files: dict[str, bytes]) -> None:
        name = entry.name
        entry.reason = ""
        model_dir = self._model_dir(name, files)
        try:
            config = self._config_for(name, model_dir, config_json)
            backend_name = cfgmod.resolve_backend(config, model_dir)
            backend = await self._backend(backend_name)
            settings = self._settings(backend_name)
            if not self.options.disable_auto_complete_config:
                ctx = AutoCompleteContext(name, model_dir, config, settings,
                                          int(settings.get("default-max-batch-size", 4)))
                await self._call(backend.auto_complete_config, ctx)
            if not config.default_model_filename:
                config.default_model_filename = backend.default_model_filename
            config = cfgmod.fill_defaults(config, model_name=name, gpu_count=self.gpu_count,
                                          default_kind=Kind.Value(backend.instance_kinds[0]))
            for warning in cfgmod.validate(config, model_name=name,
                                           installed_backends=self.plugins.backend_names(),
                                           gpu_count=self.gpu_count):
                log.warning("%s", warning)
            available = scan.version_numbers(model_dir)
            wanted, missing = scan.select_versions(config.version_policy, available)
            if not wanted:
                raise invalid_arg(
                    f"model '{name}': no version directory to load in {model_dir} (found "
                    f"{available or 'none'}; version_policy asks for "
                    f"{missing or 'the latest'}); add a numeric directory such as '1/'"
                )
        except BaseException:
            if files:
                shutil.rmtree(model_dir, ignore_errors=True)
            raise
        for version in missing:
            entry.status[version] = VersionStatus(State.UNAVAILABLE,
                                                  f"version {version} not found in {model_dir}")
        await self._swap(entry, backend_name, backend, config, model_dir, wanted, settings)
        if entry.override_dir is not None and entry.override_dir != model_dir:
            shutil.rmtree(entry.override_dir, ignore_errors=True)
        entry.override_dir = model_dir if files else None
        entry.fingerprint = () if files else scan.fingerprint(model_dir)

    async def _swap(self, entry: ModelEntry, backend_name: str, backend: Backend, config: Any,
                    model_dir: Path, wanted: list[int], settings: dict[str, str]) -> None:
        """Load ``wanted`` versions, then replace the old ones; unload what is no longer wanted."""
        for version in wanted:
            if version not in entry.loaded:
                entry.status[version] = VersionStatus(State.LOADING)

        async def one(version: int) -> LoadedVersion:
            ctx = ModelContext(entry.name, version, _copy(config), model_dir, settings,
                               self.server)
            return await LoadedVersion.load(backend, ctx, self.executor)

        results = await asyncio.gather(*(one(v) for v in wanted), return_exceptions=True)
        old = entry.loaded
        new: dict[int, LoadedVersion] = {}
        errors = []
        for version, result in zip(wanted, results):
            if isinstance(result, LoadedVersion):
                new[version] = result
                entry.status[version] = VersionStatus(State.READY)
                self.plugins.hook.tritoncore_model_loaded(name=entry.name, version=version,
                                                          config=result.config)
            else:
                reason = _reason(entry.name, result)
                errors.append(f"version {version}: {reason}")
                if version in old:  # keep serving the old one
                    new[version] = old[version]
                    entry.status[version].reason = f"reload failed: {reason}"
                else:
                    entry.status[version] = VersionStatus(State.UNAVAILABLE, reason)
        entry.loaded = new
        if new:
            entry.backend = backend_name
        for version, loaded in old.items():
            if new.get(version) is not loaded:
                await self._unload_version(entry, loaded, keep_status=version in new)
        if errors:  # what did load serves; the caller still learns what failed
            # INVALID_ARG (HTTP 400), as Triton answers a load that failed
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"load failed for model '{entry.name}': {'; '.join(errors)}")

    async def unload(self, name: str, unload_dependents: bool = False,
                     *, _forced: bool = False) -> None:
        """Unload every version of ``name``; in-flight requests finish first.

        ``unload_dependents`` also unloads the loaded ensembles that use ``name`` as a step.
        """
        self._check_control(_forced)
        entry = self.models.get(name)
        if entry is None:
            raise not_found(f"model '{name}' is not in any model repository")
        if unload_dependents:
            for dependent in self.dependents(name):
                await self.unload(dependent, True, _forced=True)
        async with entry.lock:
            for loaded in list(entry.loaded.values()):
                await self._unload_version(entry, loaded)
            entry.loaded = {}
            for status in entry.status.values():
                if status.state is not State.UNAVAILABLE or not status.reason:
                    status.state, status.reason = State.UNAVAILABLE, "unloaded"
            entry.fingerprint = ()
            if entry.override_dir is not None:
                shutil.rmtree(entry.override_dir, ignore_errors=True)
                entry.override_dir = None
                if name not in self._scan().models:  # it only ever existed in the load
                    del self.models[name]             # request: gone, as in Triton's index
            await self._release(entry)

    async def _unload_version(self, entry: ModelEntry, loaded: LoadedVersion,
                              keep_status: bool = False) -> None:
        status = entry.status.setdefault(loaded.version, VersionStatus(State.UNLOADING))
        if not keep_status:
            status.state = State.UNLOADING
        await loaded.unload(self.executor)
        if not keep_status:
            status.state, status.reason = State.UNAVAILABLE, "unloaded"
        self.plugins.hook.tritoncore_model_unloaded(name=entry.name, version=loaded.version)

    # ---------------------------------------------------------------------------------------
    # helpers
    # ---------------------------------------------------------------------------------------

    def _model_dir(self, name: str, files: dict[str, bytes]) -> Path:
        if files:
            return overrides.write_overrides(name, files)
        found = self._scan()
        if name in found.duplicates:
            raise invalid_arg(self.models[name].reason)
        if name not in found.models:
            repos = ", ".join(map(str, self.options.model_repositories))
            raise not_found(f"model '{name}' is not in any model repository ({repos})")
        return found.models[name]

    def _config_for(self, name: str, model_dir: Path, config_json: str | None) -> Any:
        if config_json:
            config = cfgmod.parse_model_config_json(config_json, f"load request for '{name}'")
        else:
            found = cfgmod.read_model_config(model_dir, self.options.model_config_name or None)
            if name in self._overrides:
                found = cfgmod.merge(found, self._overrides[name])
            if found is None:
                if self.options.disable_auto_complete_config:
                    raise invalid_arg(
                        f"model '{name}': {model_dir} has no config.pbtxt and auto-complete is "
                        "disabled (--disable-auto-complete-config)"
                    )
                found = cfgmod.ModelConfig()
            config = found
        if not config.name:
            config.name = name
        return config

    def _settings(self, backend: str) -> dict[str, str]:
        """Global backend settings overlaid with the backend's own."""
        return {**self.backend_config.get(GLOBAL, {}), **self.backend_config.get(backend, {})}

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asynccall.call(fn, *args, executor=self.executor)

    async def _backend(self, name: str) -> Backend:
        """The backend instance, initialized on first use."""
        async with self._backend_lock:  # concurrent loads initialize a backend once
            if name not in self.backends:
                backend = self.plugins.backend_class(name)()
                await self._call(backend.initialize, self._settings(name))
                self.backends[name] = backend
            return self.backends[name]

    async def _release(self, entry: ModelEntry) -> None:
        """Finalize the entry's backend when no other loaded model uses it."""
        name, entry.backend = entry.backend, ""
        if not name or any(e.backend == name and e.loaded for e in self.models.values()):
            return
        backend = self.backends.pop(name, None)
        if backend is not None:
            await self._call(backend.finalize)
            self.plugins.unload_backend(name)
            log.info("backend '%s' finalized: no loaded model uses it", name)

    # ---------------------------------------------------------------------------------------
    # queries
    # ---------------------------------------------------------------------------------------

    def get(self, name: str, version: int = -1) -> LoadedVersion:
        """The version that serves ``name`` (``-1``: the highest ready one)."""
        entry = self.models.get(name)
        if entry is None:
            raise not_found(f"unknown model '{name}'")
        if version < 0:
            if entry.loaded:
                return entry.loaded[max(entry.loaded)]
        elif version in entry.loaded:
            return entry.loaded[version]
        elif version not in entry.status:  # never a version of this model (as Triton: 404)
            raise not_found(self.not_ready_reason(name, version))
        raise TritonError(ErrorCode.UNAVAILABLE, self.not_ready_reason(name, version))

    def not_ready_reason(self, name: str, version: int) -> str:
        entry = self.models.get(name)
        if entry is None:
            return f"model '{name}' is not in any model repository"
        status = entry.status.get(version)
        which = f" version {version}" if version >= 0 else ""
        reason = (status.reason if status else "") or entry.reason or "not loaded"
        if version >= 0 and status is None and entry.loaded:
            reason = f"version not found; loaded versions: {sorted(entry.loaded)}"
        return f"model '{name}'{which} is not ready: {reason}"

    def dependents(self, name: str) -> list[str]:
        """Loaded ensembles with a step that runs ``name``."""
        return sorted(n for n, e in self.models.items() for v in e.loaded.values()
                      if any(step.model_name == name
                             for step in v.config.ensemble_scheduling.step))

    def is_ready(self, name: str, version: int = -1) -> bool:
        try:
            return self.get(name, version).ready()
        except TritonError:
            return False

    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Triton's repository index rows."""
        rows: list[dict[str, str]] = []
        for name in sorted(self.models):
            entry = self.models[name]
            if not entry.status:
                if not ready_only:
                    row = {"name": name}
                    if entry.reason:
                        row.update(state=State.UNAVAILABLE.value, reason=entry.reason)
                    rows.append(row)
                continue
            for version in sorted(entry.status):
                status = entry.status[version]
                if ready_only and status.state is not State.READY:
                    continue
                row = {"name": name, "version": str(version), "state": status.state.value}
                if status.reason:  # Triton leaves out an empty reason
                    row["reason"] = status.reason
                rows.append(row)
        return rows


def _copy(config: Any) -> Any:
    clone = type(config)()
    clone.CopyFrom(config)
    return clone


def _reason(name: str, exc: BaseException) -> str:
    if isinstance(exc, TritonError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
