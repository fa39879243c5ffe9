"""``tritoncore-sdk new-backend``: the generated package installs and passes its own tests."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from tritoncore_sdk.cli import main, new_backend


def test_refuses_bad_names_and_non_empty_directories(tmp_path: Path) -> None:
    assert main(["new-backend", "Bad-Name", "--dir", str(tmp_path / "x")]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    with pytest.raises(FileExistsError):
        new_backend("ok", tmp_path / "full")


def test_generated_package_installs_and_passes_its_tests(tmp_path: Path) -> None:
    pkg = new_backend("scaler", tmp_path / "tritoncore-scaler")
    assert (pkg / "models" / "conformance.json").is_file()
    # A fresh venv that sees this venv's packages (tritoncore, the sdk, pytest) through a .pth
    # file, so that installing the generated package changes nothing outside tmp_path.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                  "['purelib'])"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    Path(target_site, "_outer_venv.pth").write_text(lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    install = subprocess.run([python, "-m", "pip", "install", "--no-deps",
                              "-q", str(pkg)], capture_output=True, text=True, env=env,
                             timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([python, "-m", "tritoncore.cli", "backends"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert "scaler" in listed.stdout, listed.stdout + listed.stderr
    run = subprocess.run([python, "-X", "faulthandler", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "faulthandler_timeout=60",
                          f"--rootdir={pkg}", str(pkg / "tests")],
                         cwd=pkg, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "scaler discovery" in run.stdout and "FAIL" not in run.stdout
    assert sys.prefix not in str(env_dir)
