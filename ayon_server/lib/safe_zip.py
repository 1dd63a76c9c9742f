"""Safe extraction of uploaded zip archives (addons, packages).

An archive is checked whole before anything is written: every entry must stay inside the
target (no `..`, absolute paths, drive letters or backslashes), be a regular file or directory
(no symlinks, devices, FIFOs), and the archive must respect limits on the number of entries, the
total declared unpacked size and the compression ratio (zip bombs). Extraction writes into a
temporary sibling directory and renames it into place, so a refused or failed archive leaves
nothing behind; the bytes written are counted too, so a lying header cannot exceed the limit.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ayon_server.exceptions import BadRequestException

MAX_ENTRIES = 20_000
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_RATIO = 200
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = MAX_ENTRIES
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES
    max_ratio: int = MAX_RATIO


def unsafe(reason: str) -> BadRequestException:
    return BadRequestException(f"Unsafe archive: {reason}")


def _check_name(name: str) -> PurePosixPath:
    if not name or "\x00" in name or "\\" in name:
        raise unsafe(f"invalid entry name {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise unsafe(f"absolute path {name!r}")
    if any(part == ".." for part in path.parts):
        raise unsafe(f"entry {name!r} escapes the target")
    return path


def check_archive(
    archive: zipfile.ZipFile, limits: ZipLimits = ZipLimits()
) -> list[zipfile.ZipInfo]:
    """The archive's entries once every check passed; 400 naming the first problem otherwise."""
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise unsafe(f"more than {limits.max_entries} entries")
    total = 0
    for info in entries:
        _check_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            kind = "symlink" if stat.S_ISLNK(mode) else "special file"
            raise unsafe(f"{kind} {info.filename!r}")
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise unsafe(f"unpacked size exceeds {limits.max_unpacked_bytes} bytes")
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise unsafe(f"compression ratio of {info.filename!r} is too high")
    return entries


def open_zip(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadRequestException("The archive is not a valid zip file") from exc


def extract(
    archive: zipfile.ZipFile,
    target: Path,
    *,
    prefix: str = "",
    limits: ZipLimits = ZipLimits(),
) -> None:
    """Extract the entries under `prefix` (e.g. "addon/") into `target`, atomically.

    `target` must not exist yet; it appears whole or not at all.
    """
    entries = check_archive(archive, limits)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        written = 0
        for info in entries:
            if not info.filename.startswith(prefix):
                continue
            relative = info.filename[len(prefix) :]
            if not relative:
                continue
            destination = temp.joinpath(*_check_name(relative).parts)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(destination, "xb") as sink:
                while chunk := source.read(CHUNK):
                    written += len(chunk)
                    if written > limits.max_unpacked_bytes:
                        raise unsafe(f"unpacked size exceeds {limits.max_unpacked_bytes} bytes")
                    sink.write(chunk)
        os.rename(temp, target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise BadRequestException(f"The archive is damaged: {exc}") from exc
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
