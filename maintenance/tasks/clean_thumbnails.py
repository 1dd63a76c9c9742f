"""clean_thumbnails: delete thumbnails no entity references after a grace period (project data)."""

from __future__ import annotations

from typing import Any

from maintenance.tasks.base import MaintenanceTask, TaskContext, skip_project_cleanup


class CleanThumbnails(MaintenanceTask):
    name = "clean_thumbnails"
    title = "Clean-up thumbnails"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await skip_project_cleanup(ctx)
