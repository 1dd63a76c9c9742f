"""Uploading the file of a declared dependency package or installer.

The manifest (created first) declares the file's size and checksum; the upload is streamed
into the database and refused (400, nothing stored) when it does not match them, so a client
that later verifies its download against the manifest never gets a file that fails it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable

from ayon_server.addons import store
from ayon_server.addons.archives import write_archive
from ayon_server.exceptions import BadRequestException
from ayon_server.runtime import Runtime

CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256")


async def upload_package_file(
    runtime: Runtime, kind: store.PackageKind, filename: str, chunks: AsyncIterable[bytes]
) -> store.PackageRecord:
    async with runtime.db.transaction() as conn:
        package = await store.get_package(conn, kind, filename, lock=True)
        if package is None:
            raise store.package_not_found(kind, filename)
        algorithm = package.data.get("checksumAlgorithm")
        declared = package.data.get("checksum")
        extra = (
            hashlib.new(algorithm)
            if declared and algorithm in CHECKSUM_ALGORITHMS and algorithm != "sha256"
            else None
        )
        archive = await write_archive(
            conn,
            chunks,
            max_size=runtime.settings.max_package_bytes,
            extra_digests=[extra] if extra else [],
        )
        size = package.data.get("size")
        if isinstance(size, int) and size > 0 and size != archive.size:
            raise BadRequestException(
                f"The file has {archive.size} bytes, the manifest declares {size}"
            )
        if declared and algorithm in CHECKSUM_ALGORITHMS:
            actual = extra.hexdigest() if extra else archive.sha256
            if actual.lower() != str(declared).lower():
                raise BadRequestException(
                    f"The file's {algorithm} is {actual}, the manifest declares {declared}"
                )
        return await store.attach_archive(conn, kind, filename, archive)
