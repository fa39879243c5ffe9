"""Repository scanning, version directories, version policies, file-override path safety."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritoncore.errors import TritonError
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.repository import overrides, scan


def make(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).mkdir(parents=True, exist_ok=True)


def test_scan_finds_model_dirs_and_duplicates(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make(a, "m1/1", "m2", ".hidden")
    make(b, "m2/1", "m3")
    (a / "config.pbtxt").write_text("")  # a server-level config file, not a model
    result = scan.scan_repositories([a, b])
    assert result.models == {"m1": a / "m1", "m2": a / "m2", "m3": b / "m3"}
    assert result.duplicates == {"m2": [a / "m2", b / "m2"]}


def test_version_numbers_ignore_non_numeric_and_leading_zeros(tmp_path: Path) -> None:
    make(tmp_path, "1", "3", "10", "0", "007", "v2", "latest")
    (tmp_path / "4").write_text("a file, not a directory")
    assert scan.version_numbers(tmp_path) == [0, 1, 3, 10]


def policy(text: str) -> mc.ModelVersionPolicy:
    from google.protobuf import text_format

    return text_format.Parse(text, mc.ModelVersionPolicy())


@pytest.mark.parametrize(
    "text, available, expected",
    [
        ("", [1, 2, 3], ([3], [])),
        ("latest { num_versions: 2 }", [1, 2, 5], ([2, 5], [])),
        ("latest { num_versions: 9 }", [1, 2], ([1, 2], [])),
        ("all {}", [1, 4], ([1, 4], [])),
        ("specific { versions: [4, 1, 7] }", [1, 2, 4], ([1, 4], [7])),
        ("", [], ([], [])),
    ],
)
def test_version_policies(text: str, available: list[int], expected: tuple) -> None:
    assert scan.select_versions(policy(text), available) == expected


def test_latest_zero_versions_is_rejected() -> None:
    with pytest.raises(TritonError, match="num_versions must be >= 1"):
        scan.select_versions(policy("latest { num_versions: 0 }"), [1])


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    make(tmp_path, "1")
    f = tmp_path / "1" / "model.bin"
    f.write_bytes(b"a")
    before = scan.fingerprint(tmp_path)
    assert before == scan.fingerprint(tmp_path)
    f.write_bytes(b"ab")
    assert scan.fingerprint(tmp_path) != before


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "1/../../x", "", "C:/x",
                                 "\\x", "1\\..\\x"])
def test_override_paths_must_stay_inside(bad: str) -> None:
    with pytest.raises(TritonError) as info:
        overrides.check_relative_path("m", bad)
    assert "model 'm': override file" in info.value.message


def test_overrides_written_into_private_dir(tmp_path: Path) -> None:
    root = overrides.write_overrides("m", {"1/model.bin": b"xyz", "labels.txt": b"a\nb"})
    try:
        assert (root / "1" / "model.bin").read_bytes() == b"xyz"
        assert (root / "labels.txt").read_bytes() == b"a\nb"
        assert root.name.startswith("tritoncore-m-")
    finally:
        import shutil

        shutil.rmtree(root)
