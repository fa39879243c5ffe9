"""The pytest plugin (entry point ``pytest11``): options, collected checks, table, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tritoncore_sdk.conformance.runner import CHECK_KEY, CHECK_NAMES, DETAIL_KEY, run_check


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tritoncore", "tritoncore backend conformance kit")
    group.addoption("--tritoncore-backend", metavar="NAME", default=None,
                    help="run the conformance checks against this backend (entry-point name)")
    group.addoption("--tritoncore-models", metavar="PATH", default=None,
                    help="model repository to use (roles in conformance.json); default: the "
                         "models the backend's tritoncore_conformance_models hook writes")
    group.addoption("--tritoncore-checks", metavar="A,B", default=None,
                    help=f"run only these checks ({', '.join(CHECK_NAMES)})")
    group.addoption("--tritoncore-json", metavar="FILE", default=None,
                    help="write the conformance verdicts as JSON to FILE")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(Recorder(config), "tritoncore-conformance-recorder")


class ConformanceItem(pytest.Item):
    """One check of the backend given on the command line."""

    def __init__(self, *, check: str, backend: str, models: Path | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.check = check
        self.backend = backend
        self.models = models

    def runtest(self) -> None:
        factory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        run_check(self.check, self.backend, self.models,
                  lambda: factory.mktemp(f"conformance-{self.backend}"),
                  lambda k, v: self.user_properties.append((k, v)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        from tritoncore_sdk.conformance.checks import CheckFailed

        if isinstance(excinfo.value, CheckFailed):
            return f"{self.check}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"tritoncore conformance: {self.backend} {self.check}"


class ConformanceSuite(pytest.Collector):
    """The checks for ``--tritoncore-backend``, collected after the ordinary tests."""

    def collect(self) -> list[pytest.Item]:
        opt = self.config.getoption
        backend = opt("--tritoncore-backend")
        models = Path(opt("--tritoncore-models")).resolve() if opt("--tritoncore-models") else None
        wanted = opt("--tritoncore-checks")
        names = [c.strip() for c in wanted.split(",")] if wanted else list(CHECK_NAMES)
        unknown = [n for n in names if n not in CHECK_NAMES]
        if unknown:
            raise pytest.UsageError(f"unknown checks {unknown}; checks: {', '.join(CHECK_NAMES)}")
        return [ConformanceItem.from_parent(self, name=n, check=n, backend=backend,
                                            models=models) for n in names]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    backend = config.getoption("--tritoncore-backend")
    if backend:
        suite = ConformanceSuite.from_parent(session, name=f"conformance[{backend}]")
        items.extend(suite.collect())


class Recorder:
    """Collects the checks' outcomes; prints the table and writes the JSON at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[dict[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if CHECK_KEY not in props:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            backend, check = (str(x) for x in props[CHECK_KEY])  # type: ignore[attr-defined]
            outcome = "pass" if report.passed else "skip" if report.skipped else "fail"
            detail = str(props.get(DETAIL_KEY, ""))
            if not detail and report.longrepr is not None:
                detail = str(report.longrepr).strip().splitlines()[-1]
            self.rows.append({"backend": backend, "check": check, "outcome": outcome,
                              "detail": detail})

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        tr = terminalreporter
        tr.section("tritoncore conformance")
        width = max(len(f"{r['backend']} {r['check']}") for r in self.rows)
        colours = {"pass": {"green": True}, "fail": {"red": True}, "skip": {"yellow": True}}
        for r in self.rows:
            tr.write(f"{r['backend']} {r['check']}".ljust(width) + "  ")
            tr.write(r["outcome"].upper().ljust(4), **colours[r["outcome"]])
            tr.line(f"  {r['detail']}")
        path = self.config.getoption("--tritoncore-json")
        if path:
            tr.line(f"verdicts written to {path}")

    def pytest_sessionfinish(self) -> None:
        path = self.config.getoption("--tritoncore-json")
        if not path:
            return
        summary: dict[str, dict[str, int]] = {}
        for r in self.rows:
            counts = summary.setdefault(r["backend"], {"pass": 0, "fail": 0, "skip": 0})
            counts[r["outcome"]] += 1
        Path(path).write_text(json.dumps({"results": self.rows, "summary": summary},
                                         indent=2) + "\n")
