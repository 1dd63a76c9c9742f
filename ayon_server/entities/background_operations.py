"""Operation batches run after the answer (AYON's operations/background).

`ayon_api.OperationsSession.commit` posts its batch here and polls the task's status until it
is `completed`, then reads the same result the synchronous endpoint returns. The status lives in
Redis for BACKGROUND_TTL seconds, so any replica answers the poll; after that it is 404.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Literal

from ayon_server.entities.operations import (
    Operation,
    OperationsResponseModel,
    run_operations,
)
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

BACKGROUND_TTL = 30 * 60
TaskStatus = Literal["pending", "in_progress", "completed"]


def _key(project_name: str, task_id: str) -> str:
    return f"background-operations:{project_name.lower()}:{task_id}"


async def save_status(
    runtime: Runtime,
    project_name: str,
    task_id: str,
    status: TaskStatus,
    result: OperationsResponseModel | None = None,
) -> None:
    record: dict[str, Any] = {"status": status}
    if result is not None:
        record["result"] = result.model_dump(mode="json", by_alias=True)
    await runtime.redis.set(_key(project_name, task_id), json.dumps(record), ttl=BACKGROUND_TTL)


async def load_status(runtime: Runtime, project_name: str, task_id: str) -> dict[str, Any] | None:
    raw = await runtime.redis.get(_key(project_name, task_id))
    return json.loads(raw) if raw is not None else None


async def run_in_background(
    runtime: Runtime,
    project_name: str,
    task_id: str,
    operations: Sequence[Operation],
    *,
    can_fail: bool,
) -> None:
    """Run the batch and record its result. A batch that cannot run at all (the database went
    away, the project was deleted meanwhile) is recorded as failed, so the polling client stops
    waiting and sees it; the error itself goes to the log."""
    await save_status(runtime, project_name, task_id, "in_progress")
    try:
        result = await run_operations(
            runtime.events, runtime.db, project_name, operations, can_fail=can_fail
        )
    except Exception:
        log.exception("background operations %s in project %s failed", task_id, project_name)
        result = OperationsResponseModel(operations=[], success=False)
    await save_status(runtime, project_name, task_id, "completed", result)
