"""What an addon zip says it is, read without executing anything in it.

AYON's layout: at the zip root a `manifest.json` (`addon_name`, `addon_version`) or a
`package.py` / `package.yaml` / `package.yml` (`name`, `version`), and an `addon/` directory
whose contents become the installed version directory. `package.py` is parsed, never run: only
top-level assignments of literal strings are read. The whole entry list is checked with the safe
extraction rules first, so an archive that could never be installed is refused at upload.
"""

from __future__ import annotations

import ast
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from ayon_server.addons.names import check_addon_name, check_version
from ayon_server.exceptions import BadRequestException
from ayon_server.lib.safe_zip import ZipLimits, check_archive

ADDON_PREFIX = "addon/"
PRIVATE_PREFIX = "addon/private/"
MAX_MANIFEST_BYTES = 1024 * 1024
# Manifest fields kept as they are (strings only), for listing; the rest is ignored.
KEPT_FIELDS = ("title", "description", "required_ayon_version", "ayon_version", "client_dir")


@dataclass(frozen=True)
class AddonManifest:
    name: str
    version: str
    title: str | None
    description: str | None
    fields: dict[str, str] = field(default_factory=dict)
    # Files under addon/private/, relative to it (what clients may download).
    private_files: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {**self.fields, "privateFiles": list(self.private_files)}


def _read_small(archive: zipfile.ZipFile, name: str) -> str:
    info = archive.getinfo(name)
    if info.file_size > MAX_MANIFEST_BYTES:
        raise BadRequestException(f"{name} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return archive.read(info).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestException(f"{name} is not UTF-8 text") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise BadRequestException(f"The archive is damaged: {exc}") from None


def _from_manifest_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadRequestException(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequestException("manifest.json must be a JSON object")
    return {**data, "name": data.get("addon_name"), "version": data.get("addon_version")}


def _from_package_py(text: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text, filename="package.py")
    except (SyntaxError, ValueError) as exc:
        raise BadRequestException(f"package.py is not valid Python: {exc}") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            values[node.targets[0].id] = node.value.value
    return values


def _from_package_yaml(text: str) -> dict[str, Any]:
    """Top-level `key: scalar` lines; nested or multi-line values are not needed here."""
    values: dict[str, Any] = {}
    for line in text.splitlines():
        if not line or line[0] in " \t#-":
            continue
        key, sep, value = line.partition(":")
        value = value.split(" #", 1)[0].strip()
        if sep and value:
            values[key.strip()] = value.strip("'\"")
    return values


READERS = (
    ("manifest.json", _from_manifest_json),
    ("package.py", _from_package_py),
    ("package.yaml", _from_package_yaml),
    ("package.yml", _from_package_yaml),
)


def read_manifest(archive: zipfile.ZipFile, limits: ZipLimits | None = None) -> AddonManifest:
    """The addon's manifest; 400 saying what is wrong with the archive otherwise."""
    entries = check_archive(archive, limits or ZipLimits())
    names = {info.filename for info in entries}
    for filename, reader in READERS:
        if filename in names:
            values = reader(_read_small(archive, filename))
            break
    else:
        raise BadRequestException(
            "The archive has no manifest.json, package.py or package.yaml at its root"
        )
    if not any(name.startswith(ADDON_PREFIX) and name != ADDON_PREFIX for name in names):
        raise BadRequestException("The archive has no addon/ directory")
    name = check_addon_name(values.get("name"))
    version = check_version(values.get("version"))
    kept = {key: values[key] for key in KEPT_FIELDS if isinstance(values.get(key), str)}
    private = tuple(
        sorted(
            info.filename[len(PRIVATE_PREFIX) :]
            for info in entries
            if info.filename.startswith(PRIVATE_PREFIX) and not info.is_dir()
        )
    )
    return AddonManifest(
        name=name,
        version=version,
        title=kept.get("title"),
        description=kept.get("description"),
        fields=kept,
        private_files=private,
    )
