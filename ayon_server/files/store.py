"""Project files: the `files` rows of a project and their bytes on disk.

The bytes of file <id> of project <p> live at AYON_STORAGE_DIR/projects/<p>/files/<id[:2]>/<id>;
the path is built from the validated project name and the generated (or 32-hex) id only, never
from anything else the client sends. An upload streams into a temporary file in that same
directory and is renamed into place once its row is written, so a refused, failed or
interrupted upload leaves nothing behind. A file attached to nothing stays until clean_files
removes it after the grace period.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from ayon_server.exceptions import (
    AyonException,
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotFoundException,
)
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.changes import Actor
from ayon_server.projects.store import ProjectRef, load_project_ref, write_transaction

MAX_FILE_NAME_LENGTH = 255
TEMP_SUFFIX = ".part"


def file_not_found(file_id: uuid.UUID) -> NotFoundException:
    return NotFoundException(f"File {file_id.hex} not found")


def sanitize_file_name(name: str | None) -> str:
    """The client's file name, kept only as a label; 400 for anything that looks like a path."""
    if not name or not name.strip():
        raise BadRequestException("x-file-name header is required")
    if len(name) > MAX_FILE_NAME_LENGTH:
        raise BadRequestException(f"File name is longer than {MAX_FILE_NAME_LENGTH} characters")
    if "/" in name or "\\" in name or "\x00" in name or ".." in name:
        raise BadRequestException("File name must not contain path separators, '..' or NUL")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise BadRequestException("File name must not contain control characters")
    return name


def project_files_dir(storage_dir: str, project_name: str) -> Path:
    """Where a project's file bytes live (project_name is a validated, stored name)."""
    return Path(storage_dir) / "projects" / project_name / "files"


def file_path(storage_dir: str, project_name: str, file_id: uuid.UUID) -> Path:
    return project_files_dir(storage_dir, project_name) / file_id.hex[:2] / file_id.hex


def payload_too_large(limit: int) -> AyonException:
    return AyonException(f"File is larger than the upload limit of {limit} bytes", status=413)


@dataclass(frozen=True)
class Upload:
    """What the client said about the file it is sending."""

    name: str
    mime: str
    file_id: uuid.UUID
    activity_id: uuid.UUID | None


async def _stream_to(path: Path, chunks: AsyncIterator[bytes], limit: int) -> int:
    """Write the chunks to `path`; 413 as soon as they exceed `limit` bytes."""
    size = 0
    with path.open("xb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise payload_too_large(limit)
            await asyncio.to_thread(handle.write, chunk)
    return size


async def save_upload(
    db: Postgres,
    storage_dir: str,
    project_name: str,
    upload: Upload,
    chunks: AsyncIterator[bytes],
    actor: Actor,
    *,
    limit: int,
) -> uuid.UUID:
    """Store the body and its row; on any failure (or a client disconnect) nothing stays."""
    project = await load_project_ref(db, project_name)
    final = file_path(storage_dir, project.name, upload.file_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f"{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    placed = False
    try:
        size = await _stream_to(temp, chunks, limit)
        async with write_transaction(db) as conn:
            project = await load_project_ref(conn, project_name, lock=True)
            await _insert_file(conn, project, upload, size, actor)
            # Renamed before commit: a failed commit removes the file below, so a row never
            # points at missing bytes and no bytes outlive a rolled-back row.
            os.replace(temp, final)
            placed = True
    except BaseException:
        temp.unlink(missing_ok=True)
        if placed:
            final.unlink(missing_ok=True)
        raise
    return upload.file_id


async def _insert_file(
    conn: asyncpg.Connection, project: ProjectRef, upload: Upload, size: int, actor: Actor
) -> None:
    if upload.activity_id is not None:
        await require_activity(conn, project, upload.activity_id)
    try:
        await conn.execute(
            f"INSERT INTO {project.table('files')} (id, activity_id, name, size, mime, author) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            upload.file_id,
            upload.activity_id,
            upload.name,
            size,
            upload.mime,
            actor.user,
        )
    except asyncpg.UniqueViolationError:
        raise ConflictException(f"File {upload.file_id.hex} already exists") from None


async def require_activity(
    conn: asyncpg.Connection, project: ProjectRef, activity_id: uuid.UUID
) -> None:
    found = await conn.fetchval(
        f"SELECT 1 FROM {project.table('activities')} WHERE id = $1", activity_id
    )
    if found is None:
        raise NotFoundException(f"Activity {activity_id.hex} not found")


@dataclass(frozen=True)
class StoredFile:
    """A project file's record (its bytes are at file_path)."""

    id: uuid.UUID
    name: str
    size: int
    mime: str | None
    author: str | None
    activity_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


async def get_file(db: Postgres, project_name: str, file_id: uuid.UUID) -> tuple[str, StoredFile]:
    """(stored project name, record) of the file; 404 for an unknown project or file."""
    async with db.transaction() as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        row = await conn.fetchrow(
            "SELECT id, activity_id, name, size, mime, author, created_at, updated_at "
            f"FROM {project.table('files')} WHERE id = $1",
            file_id,
        )
    if row is None:
        raise file_not_found(file_id)
    return project.name, StoredFile(**dict(row))


async def delete_file(
    db: Postgres, storage_dir: str, project_name: str, file_id: uuid.UUID, actor: Actor
) -> None:
    """Delete the row and its bytes; only its author or a manager may."""
    async with write_transaction(db) as conn:
        project = await load_project_ref(conn, project_name, lock=True)
        row = await conn.fetchrow(
            f"SELECT author FROM {project.table('files')} WHERE id = $1 FOR UPDATE", file_id
        )
        if row is None:
            raise file_not_found(file_id)
        if row["author"] != actor.user and not actor.is_manager:
            raise ForbiddenException("Only the file's author or a manager can delete it")
        await conn.execute(f"DELETE FROM {project.table('files')} WHERE id = $1", file_id)
    file_path(storage_dir, project.name, file_id).unlink(missing_ok=True)


async def attach_files(
    conn: asyncpg.Connection,
    project: ProjectRef,
    activity_id: uuid.UUID,
    file_ids: list[uuid.UUID],
) -> None:
    """Attach these files to the activity; 404 naming the first unknown one."""
    if not file_ids:
        return
    rows = await conn.fetch(
        f"UPDATE {project.table('files')} SET activity_id = $1, updated_at = now() "
        "WHERE id = ANY($2::uuid[]) RETURNING id",
        activity_id,
        file_ids,
    )
    found = {row["id"] for row in rows}
    for file_id in file_ids:
        if file_id not in found:
            raise file_not_found(file_id)


async def detach_files(
    conn: asyncpg.Connection,
    project: ProjectRef,
    activity_id: uuid.UUID,
    keep: list[uuid.UUID] | None = None,
) -> None:
    """Files of the activity (but those in `keep`) become attached to nothing."""
    await conn.execute(
        f"UPDATE {project.table('files')} SET activity_id = NULL, updated_at = now() "
        "WHERE activity_id = $1 AND id <> ALL($2::uuid[])",
        activity_id,
        keep or [],
    )
