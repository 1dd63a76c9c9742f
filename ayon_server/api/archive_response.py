"""Streaming a stored archive to a client: Content-Length always (the AYON client needs it),
`Range: bytes=...` for resumed downloads (206, or 416 when it lies past the end)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import Request
from starlette.responses import StreamingResponse

from ayon_server.addons.archives import StoredArchive, read_archive
from ayon_server.exceptions import AyonException
from ayon_server.lib.postgres import Postgres

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range`, None for the whole file (no header, several
    ranges, or one we do not understand); 416 when it starts past the end."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = int(match[2])
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size or last < first:
        raise _unsatisfiable(size)
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> AyonException:
    return AyonException(
        f"Requested range not satisfiable (the file has {size} bytes)", status=416, size=size
    )


def content_disposition(filename: str) -> str:
    """`attachment` with the name as RFC 6266 allows any characters in it."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=utf-8''{quote(filename)}"


def archive_response(
    request: Request,
    db: Postgres,
    archive: StoredArchive,
    *,
    filename: str,
    media_type: str = "application/octet-stream",
) -> StreamingResponse:
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(filename),
    }
    wanted = requested_range(request.headers.get("range"), archive.size)
    if wanted is None:
        first, last, status = 0, archive.size - 1, 200
    else:
        first, last = wanted
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{archive.size}"
    length = last - first + 1
    headers["Content-Length"] = str(length)
    body: AsyncIterator[bytes] = read_archive(db, archive.oid, offset=first, length=length)
    return StreamingResponse(body, status_code=status, media_type=media_type, headers=headers)
