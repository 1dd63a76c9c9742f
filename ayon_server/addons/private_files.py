"""An addon's private files (`addon/private/...` in its zip), served from the stored archive.

They are read from the large object, not from a replica's unpacked copy, so a client can fetch
them as soon as the upload is stored, from any replica. The entry is decompressed in a worker
thread one chunk at a time; only the zip's central directory is read besides it.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ayon_server.addons.archives import CHUNK_SIZE, LargeObjectFile
from ayon_server.addons.manifest import PRIVATE_PREFIX
from ayon_server.addons.store import AddonRecord
from ayon_server.exceptions import BadRequestException, NotFoundException
from ayon_server.lib.postgres import Postgres


@dataclass(frozen=True)
class PrivateFile:
    name: str
    size: int
    chunks: AsyncIterator[bytes]


def check_private_path(path: str) -> str:
    parts = path.split("/")
    if "\\" in path or "\x00" in path or any(part in ("", ".", "..") for part in parts):
        raise BadRequestException(f"Invalid private file path {path!r}")
    return path


async def open_private_file(db: Postgres, addon: AddonRecord, path: str) -> PrivateFile:
    """The file's size and its bytes as a stream; 404 when the addon has no such file."""
    check_private_path(path)
    if path not in addon.manifest.get("privateFiles", []):
        raise NotFoundException(f"Addon {addon.name} {addon.version} has no private file {path}")
    loop = asyncio.get_running_loop()

    def open_entry() -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
        archive = zipfile.ZipFile(LargeObjectFile(db, addon.archive.oid, addon.archive.size, loop))
        return archive, archive.getinfo(PRIVATE_PREFIX + path)

    archive, info = await asyncio.to_thread(open_entry)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            entry = await asyncio.to_thread(archive.open, info)
            try:
                while data := await asyncio.to_thread(entry.read, CHUNK_SIZE):
                    yield data
            finally:
                entry.close()
        finally:
            archive.close()

    return PrivateFile(name=path.rsplit("/", 1)[-1], size=info.file_size, chunks=chunks())
