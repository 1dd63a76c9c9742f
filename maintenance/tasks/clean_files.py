"""clean_files: delete file records attached to nothing, with their stored bytes, and stored
files that have no record.

A record is attached to nothing when its activity_id is NULL or names an activity that no
longer exists; it goes once older than `fileGraceHours` (an upload waits that long for its
activity). Its bytes are unlinked in the batch that deletes the row: if that batch then fails
to commit, the row stays without bytes and the next run deletes it.

The storage walk visits AYON_STORAGE_DIR/projects/<project>/files/<prefix>/, checks the names
a batch at a time against the project's records, and removes files with no record (leftover
uploads, files of deleted projects) whose mtime is older than the grace period, so an upload in
progress is never touched. A dry run counts and deletes nothing.

The walk costs what changed: a file appearing in a prefix directory changes that directory's
mtime, so a directory unchanged since the last complete walk (less the grace period, for files
that were too young then) holds nothing new and is passed over with one stat. The start of the
last complete walk is the mtime of a marker under AYON_STORAGE_DIR/.maintenance/, shared by
every replica using that storage; every FULL_WALK_DAYS (or when the marker is missing) the walk
reads every directory, for bytes whose record went behind the server's back.
"""

from __future__ import annotations

import os
import time
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


# A complete walk reads every directory at least this often.
FULL_WALK_DAYS = 7
# Directory mtimes come from the storage's clock (maybe another host's): this much slack.
CLOCK_SLACK_SECONDS = 3600


def _markers(storage_dir: str) -> tuple[Path, Path]:
    """(last complete walk, last full walk): their mtimes are when those walks began."""
    directory = Path(storage_dir) / ".maintenance"
    return directory / "clean_files_walked", directory / "clean_files_full_walk"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _stamp(path: Path, moment: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (moment, moment))


def _directories_to_read(files_dir: Path, changed_after: float | None) -> list[Path]:
    """The prefix directories of a project's files, but those unchanged since `changed_after`:
    nothing was added to them since the last walk looked."""
    return [
        directory
        for directory in sorted(files_dir.iterdir())
        if directory.is_dir()
        and not directory.is_symlink()
        and (changed_after is None or directory.stat().st_mtime >= changed_after)
    ]


def _old_files(directory: Path, cutoff: float) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        return [
            entry
            for entry in entries
            if entry.is_file(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mtime < cutoff
        ]


async def _known_ids(ctx: TaskContext, project: ProjectRef | None, names: list[str]) -> set[str]:
    """Which of these file names are ids of records of the project (none if it is gone)."""
    if project is None:
        return set()
    ids = []
    for name in names:
        try:
            ids.append(uuid.UUID(hex=name))
        except ValueError:
            continue  # a leftover temporary upload or a stranger: never a record
    try:
        rows = await ctx.runtime.db.fetch(
            f"SELECT id FROM {project.table('files')} WHERE id = ANY($1::uuid[])", ids
        )
    except asyncpg.UndefinedTableError:
        return set()  # the project was deleted meanwhile: its bytes have no record
    return {row["id"].hex for row in rows}


async def _remove_orphans(
    ctx: TaskContext, project: ProjectRef | None, entries: list[os.DirEntry[str]]
) -> None:
    """Remove the files of one batch that no record names."""
    known = await _known_ids(ctx, project, [entry.name for entry in entries])
    for entry in entries:
        if entry.name in known:
            continue
        ctx.report.add("orphanFilesDeleted")
        if ctx.dry_run:
            ctx.report.add("orphanBytes", entry.stat(follow_symlinks=False).st_size)
        else:
            ctx.report.add("orphanBytes", _unlink(Path(entry.path)))
    await ctx.batch_boundary()


async def _clean_project_storage(
    ctx: TaskContext, project_name: str, files_dir: Path, changed_after: float | None, cutoff: float
) -> None:
    """The old files no record names, in the prefix directories changed after `changed_after`
    (all of them when None, or when the project is gone)."""
    try:
        project: ProjectRef | None = await load_project_ref(ctx.runtime.db, project_name)
    except NotFoundException:
        project, changed_after = None, None
    batch: list[os.DirEntry[str]] = []
    for directory in _directories_to_read(files_dir, changed_after):
        batch += _old_files(directory, cutoff)
        while len(batch) >= ctx.config.batch_size:
            chunk, batch = batch[: ctx.config.batch_size], batch[ctx.config.batch_size :]
            await _remove_orphans(ctx, project, chunk)
    if batch:
        await _remove_orphans(ctx, project, batch)


async def _clean_storage(ctx: TaskContext, cutoff: float) -> None:
    """Stored files of any project that no record names ("orphanFilesDeleted", "orphanBytes")."""
    storage = ctx.runtime.settings.storage_dir
    root = Path(storage) / "projects"
    started = time.time()
    walked_marker, full_marker = _markers(storage)
    last_walk, last_full_walk = _mtime(walked_marker), _mtime(full_marker)
    changed_after = None  # a full walk
    if last_walk is not None and last_full_walk is not None:
        if started - last_full_walk < FULL_WALK_DAYS * 86400:
            changed_after = last_walk - ctx.config.file_grace_hours * 3600 - CLOCK_SLACK_SECONDS
    for project_dir in sorted(root.iterdir()) if root.is_dir() else []:
        files_dir = project_files_dir(storage, project_dir.name)
        if files_dir.is_dir():
            await _clean_project_storage(ctx, project_dir.name, files_dir, changed_after, cutoff)
    if not ctx.dry_run:  # a walk stopped early raised before this: the next one starts over
        _stamp(walked_marker, started)
        if changed_after is None:
            _stamp(full_marker, started)


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
