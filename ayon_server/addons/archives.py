"""Archives (addon zips, dependency packages, installers) as PostgreSQL large objects.

An archive is written once from a stream of chunks inside the caller's transaction and read
back as a stream of fixed-size chunks, so a 1 GiB package never sits whole in memory on any
replica. Because large objects are transactional, an upload that fails (too big, refused,
client gone) leaves nothing behind once its transaction rolls back. Rows refer to an archive by
its oid; deleting the row and `delete_archive` belong in one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ayon_server.exceptions import AyonException
from ayon_server.lib.postgres import Postgres

# Bytes per lo_get/lo_put round trip: large enough to keep round trips few, small enough that
# a replica serving many downloads holds little memory.
CHUNK_SIZE = 1024 * 1024

Executor = Postgres | asyncpg.Connection


@dataclass(frozen=True)
class StoredArchive:
    oid: int
    sha256: str
    size: int


class ArchiveTooLarge(AyonException):
    status = 413

    def __init__(self, limit: int):
        super().__init__(f"The archive is larger than the limit of {limit} bytes", limit=limit)


async def write_archive(
    conn: asyncpg.Connection,
    chunks: AsyncIterable[bytes],
    *,
    max_size: int,
    chunk_size: int = CHUNK_SIZE,
    extra_digests: Sequence[Any] = (),
) -> StoredArchive:
    """Store the chunks as a new large object; `conn` must be inside a transaction.

    ArchiveTooLarge as soon as more than `max_size` bytes arrived: the caller's rollback then
    removes the partly written object. `extra_digests` (hashlib objects) see every byte too, for
    a caller that checks a declared md5 or sha1.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("write_archive needs a connection inside a transaction")
    oid = await conn.fetchval("SELECT lo_create(0)")
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if size > max_size:
            raise ArchiveTooLarge(max_size)
        digest.update(chunk)
        for extra in extra_digests:
            extra.update(chunk)
        buffer += chunk
        while len(buffer) >= chunk_size:
            await _put(conn, oid, size - len(buffer), bytes(buffer[:chunk_size]))
            del buffer[:chunk_size]
    if buffer:
        await _put(conn, oid, size - len(buffer), bytes(buffer))
    return StoredArchive(oid=oid, sha256=digest.hexdigest(), size=size)


async def _put(conn: asyncpg.Connection, oid: int, offset: int, data: bytes) -> None:
    await conn.execute("SELECT lo_put($1, $2, $3)", oid, offset, data)


async def read_archive(
    db: Executor,
    oid: int,
    *,
    offset: int = 0,
    length: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[bytes]:
    """The archive's bytes from `offset` (for HTTP Range), `length` of them or up to the end,
    in chunks of at most `chunk_size`.

    Given the pool, each chunk is its own short statement, so a slow reader holds no
    connection between chunks.
    """
    remaining = length
    position = offset
    while remaining is None or remaining > 0:
        wanted = chunk_size if remaining is None else min(chunk_size, remaining)
        data: bytes = await db.fetchval("SELECT lo_get($1, $2, $3)", oid, position, wanted)
        if not data:
            return
        position += len(data)
        if remaining is not None:
            remaining -= len(data)
        yield data
        if len(data) < wanted:
            return


async def delete_archive(db: Executor, oid: int | None) -> bool:
    """Remove the large object (lo_unlink); False when there was none."""
    if oid is None:
        return False
    removed = await db.fetchval(
        "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = $1", oid
    )
    return removed is not None


async def archive_exists(db: Executor, oid: int) -> bool:
    return bool(
        await db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1)", oid
        )
    )


class LargeObjectFile(io.RawIOBase):
    """A read-only, seekable file over a large object, for code that needs one (zipfile reads
    the central directory at the end). Use it from a worker thread; each read runs on `loop`
    through `conn`, which the calling coroutine must not use meanwhile."""

    def __init__(self, conn: Executor, oid: int, size: int, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._conn = conn
        self._oid = oid
        self._size = size
        self._loop = loop
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` as far as the object goes (zipfile expects whole reads)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self._size:
            wanted = min(len(view) - filled, self._size - self._position, CHUNK_SIZE)
            future = asyncio.run_coroutine_threadsafe(
                self._conn.fetchval("SELECT lo_get($1, $2, $3)", self._oid, self._position, wanted),
                self._loop,
            )
            data: bytes = future.result()
            if not data:
                break
            view[filled : filled + len(data)] = data
            filled += len(data)
            self._position += len(data)
        return filled
