"""This replica's local copies of what the database declares: the directories and files the
background installer materializes, and how it knows what it already has.

Addons are unpacked into `AYON_ADDONS_DIR/<name>/<version>/`; dependency packages and installers
are files under `AYON_STORAGE_DIR/dependency_packages/` and `.../installers/` (where replicas
share that volume, they write the same bytes under unique temporary names and rename them over
each other, which is harmless). Each copy carries
the sha256 of the archive it came from (a `.ayon-sha256` file inside an addon's directory, a
hidden `.<filename>.sha256` beside a file), so a reconcile compares checksums without reading
the copies. Only copies with that mark are ever removed: whatever an operator put there by hand
is left alone. Work in progress uses hidden names (`.download-…`, `.unpack-…`, `.old-…`) in the
same directory, so the final rename is atomic and a crash leaves only litter that
`remove_litter` clears.

Everything here is blocking file-system work; the installer runs it in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ayon_server.lib.safe_zip import ZipLimits, extract, open_zip
from ayon_server.replicas.store import PackageKind

ADDON_MARKER = ".ayon-sha256"
# The directory of an addon zip that becomes the installed version directory.
ADDON_PREFIX = "addon/"
LITTER_PREFIXES = (".download-", ".unpack-", ".old-")
# Litter younger than this may be another replica's install in progress (the storage dir can be
# a volume that replicas share), so it is left alone.
LITTER_AGE = 3600.0
FILE_DIRS: dict[PackageKind, str] = {
    "dependencyPackage": "dependency_packages",
    "installer": "installers",
}


@dataclass(frozen=True)
class LocalKey:
    """One package as the installer and replica_packages name it (version '' for files)."""

    kind: PackageKind
    name: str
    version: str = ""

    def __str__(self) -> str:
        if self.kind == "addon":
            return f"addon {self.name} {self.version}"
        what = "dependency package" if self.kind == "dependencyPackage" else "installer"
        return f"{what} {self.name}"


class ChecksumMismatch(Exception):
    """The bytes read from the database are not the declared archive."""


class LocalPackages:
    def __init__(self, addons_dir: str | os.PathLike[str], storage_dir: str | os.PathLike[str]):
        self.addons_dir = Path(addons_dir)
        self.storage_dir = Path(storage_dir)

    def directory(self, kind: PackageKind, name: str = "") -> Path:
        """Where copies of this kind live (an addon's: its name directory)."""
        if kind == "addon":
            return self.addons_dir / name
        return self.storage_dir / FILE_DIRS[kind]

    def target(self, key: LocalKey) -> Path:
        if key.kind == "addon":
            return self.addons_dir / key.name / key.version
        return self.directory(key.kind) / key.name

    def _marker(self, key: LocalKey) -> Path:
        if key.kind == "addon":
            return self.target(key) / ADDON_MARKER
        return self.directory(key.kind) / f".{key.name}.sha256"

    def installed_sha256(self, key: LocalKey) -> str | None:
        """The checksum of the archive this copy came from; None when there is no (whole) copy."""
        marker = self._marker(key)
        if not self.target(key).exists():
            return None
        try:
            return marker.read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def installed(self) -> list[LocalKey]:
        """Every copy the installer made (it carries the mark)."""
        found: list[LocalKey] = []
        if self.addons_dir.is_dir():
            for name_dir in sorted(self.addons_dir.iterdir()):
                if name_dir.name.startswith(".") or not name_dir.is_dir():
                    continue
                for version_dir in sorted(name_dir.iterdir()):
                    if (
                        not version_dir.name.startswith(".")
                        and (version_dir / ADDON_MARKER).is_file()
                    ):
                        found.append(LocalKey("addon", name_dir.name, version_dir.name))
        for kind in FILE_DIRS:
            directory = self.directory(kind)
            if not directory.is_dir():
                continue
            for marker in sorted(directory.glob(".*.sha256")):
                filename = marker.name[1 : -len(".sha256")]
                if (directory / filename).is_file():
                    found.append(LocalKey(kind, filename))
                else:
                    marker.unlink(missing_ok=True)  # its file is gone: the mark means nothing
        return found

    def remove(self, key: LocalKey) -> None:
        """Delete the copy: an addon directory is renamed away first, so it vanishes at once."""
        target = self.target(key)
        if key.kind == "addon":
            if target.is_dir():
                doomed = target.with_name(f".old-{key.version}-{secrets.token_hex(4)}")
                os.rename(target, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            _remove_empty(target.parent)
            return
        self._marker(key).unlink(missing_ok=True)
        target.unlink(missing_ok=True)

    def remove_litter(self) -> int:
        """Delete what an interrupted install left (hidden work-in-progress names, at least
        LITTER_AGE old)."""
        removed = 0
        cutoff = time.time() - LITTER_AGE
        places = [self.directory(kind) for kind in FILE_DIRS]
        if self.addons_dir.is_dir():
            places.append(self.addons_dir)
            places.extend(p for p in self.addons_dir.iterdir() if p.is_dir())
        for place in places:
            if not place.is_dir():
                continue
            for path in place.iterdir():
                # safe_zip's own temporary directory is `.<target name>.<random>`.
                if not path.name.startswith(LITTER_PREFIXES) and not path.name.startswith(".."):
                    continue
                if path.lstat().st_mtime < cutoff:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def download_path(self, key: LocalKey) -> Path:
        """A fresh temporary path on the same file system as the copy's final place."""
        directory = self.addons_dir if key.kind == "addon" else self.directory(key.kind)
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f".download-{key.name}-{key.version}-{secrets.token_hex(4)}"

    def put_addon(self, key: LocalKey, archive_path: Path, sha256: str, limits: ZipLimits) -> None:
        """Unpack the verified zip's `addon/` into the version directory, atomically: the new
        directory (with its mark) appears whole in one rename, or nothing is written."""
        target = self.target(key)
        staging = target.with_name(f".unpack-{key.version}-{secrets.token_hex(4)}")
        with open_zip(archive_path) as archive:
            try:
                extract(archive, staging, prefix=ADDON_PREFIX, limits=limits)
            except zipfile.LargeZipFile as exc:
                raise ValueError(f"The archive is too large: {exc}") from exc
        try:
            (staging / ADDON_MARKER).write_text(sha256)
            old: Path | None = None
            if target.exists():
                old = target.with_name(f".old-{key.version}-{secrets.token_hex(4)}")
                os.rename(target, old)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            _remove_empty(target.parent)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def put_file(self, key: LocalKey, download: Path, sha256: str) -> None:
        """Move the verified download into place (one rename), then mark it."""
        marker = self._marker(key)
        marker.unlink(missing_ok=True)
        os.replace(download, self.target(key))
        temp_marker = marker.with_name(f".download-{secrets.token_hex(4)}{marker.name}")
        temp_marker.write_text(sha256)
        os.replace(temp_marker, marker)

    def discard(self, path: Path, key: LocalKey) -> None:
        path.unlink(missing_ok=True)
        if key.kind == "addon":
            _remove_empty(self.directory("addon", key.name))


def _remove_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty, or not there


class HashingWriter:
    """A file being downloaded, with its sha256 and size computed as chunks arrive."""

    def __init__(self, path: Path):
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self._file = open(path, "xb")  # closed by close()

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self._file.write(chunk)

    def close(self) -> None:
        self._file.close()

    def verify(self, sha256: str, size: int) -> None:
        actual = self.digest.hexdigest()
        if actual != sha256 or self.size != size:
            raise ChecksumMismatch(
                f"checksum mismatch: the stored archive has sha256 {actual} ({self.size} bytes),"
                f" the database declares {sha256} ({size} bytes)"
            )
