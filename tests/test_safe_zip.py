"""Safe zip extraction: hostile archives are refused with 400 and leave nothing on disk."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.safe_zip import ZipLimits, extract, open_zip


def make_zip(path: Path, entries: list[tuple[str, bytes]], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_an_archive_extracts_only_what_is_under_the_prefix_and_leaves_no_staging_dir(
    tmp_path: Path,
) -> None:
    src = make_zip(
        tmp_path / "a.zip",
        [("manifest.json", b"{}"), ("addon/private/client.zip", b"abc"), ("addon/x/y.txt", b"y")],
    )
    target = tmp_path / "out" / "demo" / "1.0.0"
    extract(open_zip(src), target, prefix="addon/")
    assert (target / "private" / "client.zip").read_bytes() == b"abc"
    assert (target / "x" / "y.txt").read_bytes() == b"y"
    assert not (target / "manifest.json").exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["1.0.0"]


@pytest.mark.parametrize(
    ("entries", "symlink", "reason"),
    [
        ([("addon/../../evil.txt", b"x")], None, "escapes"),
        ([("/etc/evil.txt", b"x")], None, "absolute"),
        ([("C:/evil.txt", b"x")], None, "absolute"),
        ([("addon/ok.txt", b"x")], "addon/link", "symlink"),
        ([("addon/bomb.bin", b"\0" * (20 * 1024 * 1024))], None, "ratio"),
        ([(f"addon/{i}.txt", b"x") for i in range(30)], None, "entries"),
    ],
)
def test_hostile_archives_are_refused_and_write_nothing(
    tmp_path: Path, entries: list[tuple[str, bytes]], symlink: str | None, reason: str
) -> None:
    src = make_zip(tmp_path / "bad.zip", entries, symlink)
    out = tmp_path / "out"
    with pytest.raises(BadRequestException) as caught:
        extract(open_zip(src), out / "t", prefix="", limits=ZipLimits(max_entries=20))
    assert reason in str(caught.value.detail)
    assert not out.exists() or list(out.iterdir()) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_an_archive_over_the_unpacked_size_limit_is_400_and_writes_nothing(tmp_path: Path) -> None:
    src = make_zip(tmp_path / "big.zip", [("a", b"1" * 1000), ("b", b"2" * 1000)])
    with pytest.raises(BadRequestException, match="unpacked size"):
        extract(open_zip(src), tmp_path / "out", limits=ZipLimits(max_unpacked_bytes=1500))
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_zip_is_400(tmp_path: Path) -> None:
    path = tmp_path / "junk.zip"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(BadRequestException, match="not a valid zip"):
        open_zip(path)
