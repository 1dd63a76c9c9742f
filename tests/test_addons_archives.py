"""Archives as large objects: streamed in and out in chunks, size-limited, transactional."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator

import pytest

from ayon_server.addons import archives, store
from ayon_server.exceptions import ConflictException
from ayon_server.runtime import Runtime


async def chunks_of(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def large_objects(runtime: Runtime) -> int:
    return await runtime.db.fetchval("SELECT count(*) FROM pg_largeobject_metadata")


async def test_an_archive_is_written_from_chunks_and_read_back_in_fixed_chunks(
    runtime: Runtime,
) -> None:
    data = bytes(range(256)) * 1000  # 256 000 bytes
    async with runtime.db.transaction() as conn:
        stored = await archives.write_archive(
            conn, chunks_of(data), max_size=len(data), chunk_size=65536
        )
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    pieces = [p async for p in archives.read_archive(runtime.db, stored.oid, chunk_size=100_000)]
    assert [len(p) for p in pieces] == [100_000, 100_000, 56_000]
    assert b"".join(pieces) == data

    tail = b"".join(
        [p async for p in archives.read_archive(runtime.db, stored.oid, offset=255_990)]
    )
    assert tail == data[255_990:]
    middle = archives.read_archive(runtime.db, stored.oid, offset=10, length=5)
    assert b"".join([p async for p in middle]) == data[10:15]

    assert await archives.delete_archive(runtime.db, stored.oid)
    assert not await archives.archive_exists(runtime.db, stored.oid)
    assert not await archives.delete_archive(runtime.db, stored.oid)


async def test_an_archive_over_the_limit_is_refused_and_leaves_no_large_object(
    runtime: Runtime,
) -> None:
    before = await large_objects(runtime)
    with pytest.raises(archives.ArchiveTooLarge) as refused:
        async with runtime.db.transaction() as conn:
            await archives.write_archive(conn, chunks_of(b"x" * 50_001), max_size=50_000)
    assert refused.value.status == 413
    assert await large_objects(runtime) == before


async def test_writing_outside_a_transaction_is_a_programming_error(runtime: Runtime) -> None:
    async with runtime.db.acquire() as conn:
        with pytest.raises(RuntimeError):
            await archives.write_archive(conn, chunks_of(b"abc"), max_size=10)


async def test_zipfile_reads_an_archive_through_the_large_object_file(runtime: Runtime) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", '{"addon_name": "demo"}')
        archive.writestr("addon/private/client.zip", b"z" * 3_000_000)
    data = buffer.getvalue()
    async with runtime.db.transaction() as conn:
        stored = await archives.write_archive(conn, chunks_of(data), max_size=len(data))
        loop = asyncio.get_running_loop()

        def read() -> tuple[bytes, int]:
            handle = archives.LargeObjectFile(conn, stored.oid, stored.size, loop)
            with zipfile.ZipFile(handle) as archive:
                return archive.read("manifest.json"), len(archive.read("addon/private/client.zip"))

        assert await asyncio.to_thread(read) == (b'{"addon_name": "demo"}', 3_000_000)
        await archives.delete_archive(conn, stored.oid)


async def test_replacing_and_deleting_rows_unlinks_their_archives(runtime: Runtime) -> None:
    await runtime.db.execute("DELETE FROM public.bundles; DELETE FROM public.addons")
    before = await large_objects(runtime)

    async def save(data: bytes) -> store.AddonRecord:
        async with runtime.db.transaction() as conn:
            archive = await archives.write_archive(conn, chunks_of(data), max_size=100)
            return await store.save_addon(
                conn,
                name="demo",
                version="1.0.0",
                title="Demo",
                description=None,
                manifest={},
                archive=archive,
                created_by="admin",
            )

    await save(b"first")
    second = await save(b"second")
    assert await large_objects(runtime) == before + 1
    assert [a.archive for a in await store.list_addons(runtime.db)] == [second.archive]

    async with runtime.db.transaction() as conn:
        await store.create_bundle(conn, name="b1", data={"addons": {"demo": "1.0.0"}})
    with pytest.raises(ConflictException, match="bundle b1"):
        async with runtime.db.transaction() as conn:
            await store.delete_addons(conn, "demo", "1.0.0")
    await store.delete_bundle(runtime.db, "b1")
    async with runtime.db.transaction() as conn:
        removed = await store.delete_addons(conn, "demo")
    assert [a.version for a in removed] == ["1.0.0"]
    assert await large_objects(runtime) == before
