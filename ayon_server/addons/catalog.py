"""The update catalog that auto_update reads: which addons, dependency packages and installers
this server should have, where to download each and its sha256.

    {"addons": [{"name", "version", "url", "sha256", "required"}],
     "dependencyPackages": [{"filename", "platform", "url", "sha256", ...manifest fields}],
     "installers": [{"filename", "version", "platform", "url", "sha256", ...manifest fields}]}

An entry is wanted unless it says `"required": false`. Each wanted entry not stored yet is
downloaded as a stream straight into its large object, its sha256 (and `size`, when given)
checked as the last byte arrives, and stored in the same transaction, so a mismatch, a download
error or a refused archive leaves nothing of that entry; then every replica's installer is told.
Downloads have connect and read timeouts, so an unreachable host is one clear error, not a hang.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ayon_server.addons import store
from ayon_server.addons.archives import write_archive
from ayon_server.addons.install import store_addon
from ayon_server.addons.names import (
    ADDON_NAME_PATTERN,
    FILENAME_MAX_LENGTH,
    FILENAME_PATTERN,
    SEMVER_PATTERN,
    VERSION_MAX_LENGTH,
)
from ayon_server.exceptions import AyonException
from ayon_server.runtime import Runtime

MAX_CATALOG_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 1000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
Modules = Annotated[dict[str, Any], Field(max_length=10_000)]


class CatalogError(Exception):
    """The catalog cannot be read or is not a valid catalog; the message says why."""


class EntryError(Exception):
    """One entry could not be downloaded or stored; nothing of it was stored."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    url: Url
    sha256: Sha256
    required: bool = True
    size: int | None = Field(default=None, ge=0)


class CatalogAddon(_Entry):
    name: str = Field(pattern=ADDON_NAME_PATTERN)
    version: str = Field(pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH)


class _CatalogFile(_Entry):
    filename: str = Field(pattern=FILENAME_PATTERN, max_length=FILENAME_MAX_LENGTH)
    platform: Literal["windows", "linux", "darwin"]
    python_version: str | None = Field(default=None, alias="pythonVersion", max_length=32)
    python_modules: Modules = Field(default_factory=dict, alias="pythonModules")


class CatalogDependencyPackage(_CatalogFile):
    source_addons: Annotated[dict[str, str], Field(max_length=10_000)] = Field(
        default_factory=dict, alias="sourceAddons"
    )
    installer_version: str | None = Field(
        default=None, alias="installerVersion", max_length=VERSION_MAX_LENGTH
    )
    distro_short: str | None = Field(default=None, alias="distroShort", max_length=64)


class CatalogInstaller(_CatalogFile):
    version: str = Field(pattern=SEMVER_PATTERN, max_length=VERSION_MAX_LENGTH)
    runtime_python_modules: Modules = Field(default_factory=dict, alias="runtimePythonModules")


class UpdateCatalog(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    addons: Annotated[list[CatalogAddon], Field(max_length=MAX_ENTRIES)] = []
    dependency_packages: Annotated[
        list[CatalogDependencyPackage], Field(max_length=MAX_ENTRIES)
    ] = Field(default_factory=list, alias="dependencyPackages")
    installers: Annotated[list[CatalogInstaller], Field(max_length=MAX_ENTRIES)] = []


CatalogEntry = CatalogAddon | CatalogDependencyPackage | CatalogInstaller


def entry_name(entry: CatalogEntry) -> str:
    """How results and errors name an entry: `name version` for addons, else the filename."""
    if isinstance(entry, CatalogAddon):
        return f"{entry.name} {entry.version}"
    return entry.filename


def entries(catalog: UpdateCatalog) -> list[CatalogEntry]:
    return [*catalog.addons, *catalog.dependency_packages, *catalog.installers]


async def fetch_catalog(client: httpx.AsyncClient, url: str) -> UpdateCatalog:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise CatalogError(f"the update catalog {url} answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_CATALOG_BYTES:
                    raise CatalogError(
                        f"the update catalog is larger than {MAX_CATALOG_BYTES} bytes"
                    )
    except httpx.HTTPError as exc:
        raise CatalogError(f"could not read the update catalog {url}: {_http_error(exc)}") from None
    try:
        return UpdateCatalog.model_validate_json(bytes(body))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "the document"
        raise CatalogError(f"the update catalog is not valid: {where}: {problem['msg']}") from None


def _http_error(exc: httpx.HTTPError) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


async def is_stored(runtime: Runtime, entry: CatalogEntry) -> bool:
    if isinstance(entry, CatalogAddon):
        return await store.get_addon(runtime.db, entry.name, entry.version) is not None
    kind = (
        store.DEPENDENCY_PACKAGES
        if isinstance(entry, CatalogDependencyPackage)
        else store.INSTALLERS
    )
    package = await store.get_package(runtime.db, kind, entry.filename)
    return package is not None and package.archive is not None


@dataclass
class _Verified:
    """The download's bytes, checked against the entry as the stream ends."""

    source: AsyncIterable[bytes]
    sha256: str
    size: int | None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        received = 0
        async for chunk in self.source:
            digest.update(chunk)
            received += len(chunk)
            if self.size is not None and received > self.size:
                raise EntryError(f"the download is larger than the declared {self.size} bytes")
            yield chunk
        if self.size is not None and received != self.size:
            raise EntryError(f"the download has {received} bytes, the catalog declares {self.size}")
        if digest.hexdigest() != self.sha256.lower():
            raise EntryError(
                f"checksum mismatch: the download has sha256 {digest.hexdigest()}, "
                f"the catalog declares {self.sha256.lower()}"
            )


async def download_and_store(
    runtime: Runtime, client: httpx.AsyncClient, entry: CatalogEntry
) -> None:
    """Download the entry and store it; EntryError saying why, with nothing stored, otherwise."""
    try:
        async with client.stream("GET", entry.url) as response:
            if response.status_code != 200:
                raise EntryError(f"download from {entry.url} answered HTTP {response.status_code}")
            chunks = _Verified(response.aiter_bytes(), entry.sha256, entry.size)
            if isinstance(entry, CatalogAddon):
                await store_addon(runtime, chunks, user=None, expected=(entry.name, entry.version))
            else:
                await _store_package(runtime, entry, chunks)
    except httpx.HTTPError as exc:
        raise EntryError(f"download from {entry.url} failed: {_http_error(exc)}") from None
    except AyonException as exc:
        raise EntryError(str(exc.detail)) from None


async def _store_package(
    runtime: Runtime,
    entry: CatalogDependencyPackage | CatalogInstaller,
    chunks: AsyncIterable[bytes],
) -> None:
    """The manifest (unless one was declared already) and its file, in one transaction."""
    installer = isinstance(entry, CatalogInstaller)
    kind = store.INSTALLERS if installer else store.DEPENDENCY_PACKAGES
    data = entry.model_dump(
        by_alias=True,
        mode="json",
        exclude={"url", "sha256", "required", "filename", "platform", "version"},
    )
    data.update(
        checksum=entry.sha256.lower(),
        checksumAlgorithm="sha256",
        sources=[{"type": "http", "url": entry.url}],
    )
    async with runtime.db.transaction() as conn:
        if await store.get_package(conn, kind, entry.filename, lock=True) is None:
            await store.create_package(
                conn,
                kind,
                filename=entry.filename,
                platform=entry.platform,
                version=entry.version if isinstance(entry, CatalogInstaller) else None,
                data=data,
            )
        archive = await write_archive(conn, chunks, max_size=runtime.settings.max_package_bytes)
        await store.attach_archive(conn, kind, entry.filename, archive)
