"""clean_activities: delete activities whose origin entity is gone (project data)."""

from __future__ import annotations

from typing import Any

from maintenance.tasks.base import MaintenanceTask, TaskContext, skip_project_cleanup


class CleanActivities(MaintenanceTask):
    name = "clean_activities"
    title = "Clean-up activities"

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        await skip_project_cleanup(ctx)
