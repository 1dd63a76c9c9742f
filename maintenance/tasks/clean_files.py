"""clean_files: delete file records attached to nothing, with their stored bytes, and stored
files that have no record.

A record is attached to nothing when its activity_id is NULL or names an activity that no
longer exists; it goes once older than `fileGraceHours` (an upload waits that long for its
activity). Its bytes are unlinked in the batch that deletes the row: if that batch then fails
to commit, the row stays without bytes and the next run deletes it.

The storage walk visits AYON_STORAGE_DIR/projects/<project>/files/<prefix>/ one directory at a
time, checks each batch of names against the project's records, and removes files with no
record (leftover uploads, files of deleted projects) whose mtime is older than the grace period,
so an upload in progress is never touched. A dry run counts and deletes nothing.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from ayon_server.exceptions import NotFoundException
from ayon_server.files.store import file_path, project_files_dir
from ayon_server.projects.store import ProjectRef, load_project_ref
from maintenance.batching import run_in_batches
from maintenance.tasks.base import ProjectTask, TaskContext


def _unattached(project: ProjectRef) -> str:
    """Records attached to nothing created before $1."""
    return f"""
        SELECT f.id, f.size FROM {project.table("files")} f
        WHERE f.created_at < $1 AND (
            f.activity_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM {project.table("activities")} a WHERE a.id = f.activity_id
            )
        )
    """


def _unlink(path: Path) -> int:
    """Remove the file; its size, or 0 when it was already gone."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


async def _clean_records(ctx: TaskContext, project: ProjectRef, cutoff: datetime) -> None:
    """The unattached records of the project and their stored bytes ("deleted", "bytes")."""
    storage = ctx.runtime.settings.storage_dir
    if ctx.dry_run:
        row = await ctx.runtime.db.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(size), 0)::bigint AS b "
            f"FROM ({_unattached(project)}) u",
            cutoff,
        )
        ctx.report.add("deleted", row["n"])
        ctx.report.add("bytes", row["b"])
        return

    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        rows = await conn.fetch(
            f"DELETE FROM {project.table('files')} WHERE id IN "
            f"(SELECT id FROM ({_unattached(project)}) u LIMIT $2) RETURNING id",
            cutoff,
            limit,
        )
        for row in rows:
            ctx.report.add("bytes", _unlink(file_path(storage, project.name, row["id"])))
        return len(rows)

    await run_in_batches(ctx, batch)


async def _known_ids(ctx: TaskContext, project_name: str, names: list[str]) -> set[str]:
    """Which of these file names are ids of records of the project (none if it is gone)."""
    try:
        project = await load_project_ref(ctx.runtime.db, project_name)
    except NotFoundException:
        return set()
    ids = []
    for name in names:
        try:
            ids.append(uuid.UUID(hex=name))
        except ValueError:
            continue  # a leftover temporary upload or a stranger: never a record
    rows = await ctx.runtime.db.fetch(
        f"SELECT id FROM {project.table('files')} WHERE id = ANY($1::uuid[])", ids
    )
    return {row["id"].hex for row in rows}


async def _clean_directory(
    ctx: TaskContext, project_name: str, directory: Path, cutoff: float
) -> None:
    """Remove the old files of one prefix directory that no record names, a batch at a time."""
    with os.scandir(directory) as entries:
        candidates = [
            entry
            for entry in entries
            if entry.is_file(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mtime < cutoff
        ]
    for start in range(0, len(candidates), ctx.config.batch_size):
        chunk = candidates[start : start + ctx.config.batch_size]
        known = await _known_ids(ctx, project_name, [entry.name for entry in chunk])
        for entry in chunk:
            if entry.name in known:
                continue
            ctx.report.add("orphanFilesDeleted")
            if ctx.dry_run:
                ctx.report.add("orphanBytes", entry.stat(follow_symlinks=False).st_size)
            else:
                ctx.report.add("orphanBytes", _unlink(Path(entry.path)))
        await ctx.batch_boundary()


async def _clean_storage(ctx: TaskContext, cutoff: float) -> None:
    """Stored files of any project that no record names ("orphanFilesDeleted", "orphanBytes")."""
    root = Path(ctx.runtime.settings.storage_dir) / "projects"
    if not root.is_dir():
        return
    for project_dir in sorted(root.iterdir()):
        files_dir = project_files_dir(ctx.runtime.settings.storage_dir, project_dir.name)
        if not files_dir.is_dir():
            continue
        for directory in sorted(files_dir.iterdir()):
            if directory.is_dir() and not directory.is_symlink():
                await _clean_directory(ctx, project_dir.name, directory, cutoff)


def _cutoff(ctx: TaskContext) -> datetime:
    return ctx.now - timedelta(hours=ctx.config.file_grace_hours)


class CleanFiles(ProjectTask):
    name = "clean_files"
    counts = ("deleted", "bytes", "orphanFilesDeleted", "orphanBytes")
    report_projects = False

    async def clean_project(self, ctx: TaskContext, project: ProjectRef) -> None:
        await _clean_records(ctx, project, _cutoff(ctx))

    async def after_projects(self, ctx: TaskContext) -> None:
        # Files of every directory under the storage, projects deleted long ago included.
        await _clean_storage(ctx, _cutoff(ctx).timestamp())
