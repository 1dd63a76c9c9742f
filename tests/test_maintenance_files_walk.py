"""clean_files' storage walk costs what changed: after a complete walk, the next one reads only
the prefix directories that changed since, and a full walk comes round every FULL_WALK_DAYS."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ayon_server.config import Settings
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from maintenance.tasks.clean_files import FULL_WALK_DAYS, _markers
from tests.helpers.projects import create_project, dropping_new_projects, unique_name
from tests.helpers.users import login, make_user

pytestmark = pytest.mark.usefixtures("clean_tables")

LONG_AGO = time.time() - 30 * 86400


@pytest.fixture
async def project(client: httpx.AsyncClient, runtime: Runtime) -> AsyncIterator[str]:
    headers = await login(client, await make_user(runtime, isManager=True))
    async with dropping_new_projects(runtime):
        yield await create_project(client, headers, unique_name("walk"))


def orphan(settings: Settings, project: str, prefix: str) -> Path:
    """An old file without a record, in prefix directory `prefix`."""
    path = Path(settings.storage_dir) / "projects" / project / "files" / prefix
    path.mkdir(parents=True, exist_ok=True)
    path = path / (prefix + secrets.token_hex(15))
    path.write_bytes(b"x" * 10)
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


def age(path: Path) -> None:
    os.utime(path, (LONG_AGO, LONG_AGO))


async def orphans_deleted(runtime: Runtime) -> int:
    (task,) = (await MaintenanceRunner(runtime).run(["clean_files"])).tasks
    assert task.status == "finished", task.error
    return task.result["orphanFilesDeleted"]


async def test_a_walk_after_a_complete_one_reads_only_the_directories_that_changed(
    runtime: Runtime, settings: Settings, project: str
) -> None:
    await orphans_deleted(runtime)  # a complete walk: the markers are set
    unchanged = orphan(settings, project, "aa")
    age(unchanged.parent)  # its directory looks untouched since long before that walk
    changed = orphan(settings, project, "bb")

    assert await orphans_deleted(runtime) == 1
    assert unchanged.exists() and not changed.exists()

    # The full walk is due again: every directory is read.
    _, full = _markers(settings.storage_dir)
    due = time.time() - FULL_WALK_DAYS * 86400 - 60
    os.utime(full, (due, due))
    assert await orphans_deleted(runtime) == 1
    assert not unchanged.exists()


async def test_a_dry_run_or_a_missing_marker_means_a_full_walk(
    runtime: Runtime, settings: Settings, project: str
) -> None:
    await orphans_deleted(runtime)
    walked, _ = _markers(settings.storage_dir)
    unchanged = orphan(settings, project, "cc")
    age(unchanged.parent)
    (dry,) = (await MaintenanceRunner(runtime).run(["clean_files"], dry_run=True)).tasks
    assert dry.result["orphanFilesDeleted"] == 0  # the dry run walked like the real one would
    walked.unlink()
    assert await orphans_deleted(runtime) == 1
    assert not unchanged.exists()
