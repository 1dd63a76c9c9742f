"""auto_update: fetch the update catalog and stage missing addons for the installer."""

from __future__ import annotations

from maintenance.tasks.base import MaintenanceTask, TaskContext, TaskSkipped


class AutoUpdate(MaintenanceTask):
    name = "auto_update"

    async def run(self, ctx: TaskContext) -> None:
        if ctx.config.update_catalog_url is None:
            raise TaskSkipped("no update catalog configured")
        raise TaskSkipped("addon installer not implemented yet")
