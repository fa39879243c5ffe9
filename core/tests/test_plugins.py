"""The plugin manager against real entry points of temporary installed distributions.

Each test writes a distribution (a package plus a ``*.dist-info`` with ``entry_points.txt``)
into a temporary directory on ``sys.path``, exactly what pip leaves in site-packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.plugins import PluginManager, parse_filter

GOOD = """
    from tritoncore.backend import Backend, Model
    from tritoncore.hookspecs import hookimpl

    class DemoBackend(Backend):
        name = "{name}"
        def load_model(self, ctx):
            raise NotImplementedError

    @hookimpl
    def tritoncore_register_backends(register):
        register(DemoBackend)
"""


def install(site: Path, dist: str, name: str, body: str, module: str | None = None) -> str:
    """Write package ``module`` and a dist-info declaring entry point ``name``."""
    module = module or f"tmp_{name}_plugin"
    (site / f"{module}.py").write_text(textwrap.dedent(body.format(name=name)))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[tritoncore]\n{name} = {module}\n")
    return module


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for mod in [m for m in sys.modules if m.startswith("tmp_")]:
            del sys.modules[mod]


def test_backend_module_is_imported_on_first_use_only(site: Path) -> None:
    module = install(site, "demo-dist", "demo", GOOD)
    pm = PluginManager(env={})
    assert pm.discovered["demo"].distribution == "demo-dist"
    assert pm.discovered["demo"].version == "1.2.3"
    assert "demo" in pm.backend_names()
    assert module not in sys.modules
    cls = pm.backend_class("demo")
    assert cls.name == "demo" and module in sys.modules
    assert pm.backend_class("demo") is cls


def test_unload_backend_forgets_registration(site: Path) -> None:
    install(site, "demo-dist", "demo", GOOD)
    pm = PluginManager(env={})
    pm.backend_class("demo")
    pm.unload_backend("demo")
    assert "demo" not in pm.backends
    assert pm.backend_class("demo").name == "demo"  # loads again


def test_import_failure_names_the_distribution(site: Path) -> None:
    install(site, "broken-dist", "broken", "import no_such_module_xyz\n")
    pm = PluginManager(env={})
    with pytest.raises(TritonError) as info:
        pm.backend_class("broken")
    assert info.value.code is ErrorCode.UNAVAILABLE
    msg = info.value.message
    assert "backend 'broken' from distribution 'broken-dist' 1.2.3" in msg
    assert "ModuleNotFoundError" in msg and "no_such_module_xyz" in msg


def test_plugin_registering_another_name_is_refused(site: Path) -> None:
    install(site, "liar-dist", "liar", GOOD.replace('name = "{name}"', 'name = "other"'))
    pm = PluginManager(env={})
    with pytest.raises(TritonError, match="registered no backend named 'liar'"):
        pm.backend_class("liar")


def test_allow_and_block_list(site: Path) -> None:
    install(site, "a-dist", "aaa", GOOD)
    install(site, "b-dist", "bbb", GOOD)
    assert parse_filter("aaa, -bbb,") == ({"aaa"}, {"bbb"})
    only_a = PluginManager(env={"TRITONCORE_PLUGINS": "aaa"})
    assert "aaa" in only_a.backend_names() and "bbb" not in only_a.backend_names()
    no_b = PluginManager(env={"TRITONCORE_PLUGINS": "-bbb"})
    assert "aaa" in no_b.backend_names() and "bbb" not in no_b.backend_names()
    with pytest.raises(TritonError, match="backend 'bbb' is disabled by TRITONCORE_PLUGINS"):
        no_b.backend_class("bbb")


def test_unknown_backend_suggests_pip_install() -> None:
    pm = PluginManager(env={"TRITONCORE_PLUGINS": "-tensorrt"})
    with pytest.raises(TritonError) as info:
        pm.backend_class("nosuch")
    assert "no backend named 'nosuch' is installed (installed backends:" in info.value.message
    msg = pm.missing_backend_message("pytorch")
    if "pytorch" not in pm.discovered:
        assert msg.endswith("install it with: pip install tritoncore-pytorch")


def test_backends_command_lists_distribution_and_version(site: Path) -> None:
    install(site, "demo-dist", "demo", GOOD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    out = subprocess.run([sys.executable, "-m", "tritoncore", "backends"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["BACKEND", "DISTRIBUTION", "VERSION", "STATUS"]
    assert ["demo", "demo-dist", "1.2.3", "enabled"] in rows
