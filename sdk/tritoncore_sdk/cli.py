"""``tritoncore-sdk new-backend NAME [--dir DIR]``: write a complete, installable backend package."""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from importlib import resources
from pathlib import Path
from string import Template

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: template file -> path in the new package ($package is the Python package's name).
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "plugin.py.tmpl": "$package/plugin.py",
    "backend.py.tmpl": "$package/backend.py",
    "conformance.py.tmpl": "$package/conformance.py",
    "test_conformance.py.tmpl": "tests/test_conformance.py",
}


def new_backend(name: str, directory: Path) -> Path:
    """Write the package for backend ``name`` into ``directory`` (which must not exist)."""
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        raise ValueError(f"backend name '{name}': use lower-case letters, digits and '_', "
                         "starting with a letter (it is the name config.pbtxt uses)")
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    values = {"name": name, "package": f"tritoncore_{name}",
              "dist": f"tritoncore-{name.replace('_', '-')}",
              "cls": "".join(part.capitalize() for part in name.split("_"))}
    templates = resources.files("tritoncore_sdk.template")
    for template, target in FILES.items():
        path = directory / Template(target).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(templates.joinpath(template).read_text()).substitute(values))
    package = directory / values["package"]
    (package / "__init__.py").write_text(f'"""The \'{name}\' backend for tritoncore."""\n')
    (package / "py.typed").write_text("")
    # The example model repository: the models the conformance hook writes, and their roles.
    sys.path.insert(0, str(directory))
    try:
        module = __import__(f"{values['package']}.conformance", fromlist=["write_models"])
        roles = module.write_models(directory / "models")
    finally:
        sys.path.remove(str(directory))
        for mod in [m for m in sys.modules if m.startswith(values["package"])]:
            del sys.modules[mod]
    (directory / "models" / "conformance.json").write_text(json.dumps(roles, indent=2) + "\n")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tritoncore-sdk",
                                     description="tools for tritoncore backend authors")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new-backend", help="write a new backend package")
    new.add_argument("name", help="backend name (what config.pbtxt's backend: says)")
    new.add_argument("--dir", type=Path, default=None,
                     help="where to write it (default: ./tritoncore-NAME)")
    args = parser.parse_args(argv)
    directory = args.dir or Path(f"tritoncore-{args.name.replace('_', '-')}")
    try:
        new_backend(args.name, directory)
    except (ValueError, FileExistsError) as exc:
        print(f"tritoncore-sdk: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {directory}: pip install '{directory}[test]' && pytest {directory}/tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
