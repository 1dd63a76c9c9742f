"""Entity writes, one or many: AYON's operations (POST /api/projects/{p}/operations).

Every entity write goes through `run_operations`. The per-entity REST endpoints send a batch of
one with raise_on_error, so a folder created over REST and one created in a batch run the same
code (entities.store), with the same checks and the same event.

* can_fail=False: all operations run in ONE transaction. The first failure stops the batch and
  rolls everything back; the answer lists the operations up to the failing one, which carries
  its status and detail. With raise_on_error the failure is raised instead (HTTP error).
* can_fail=True: each operation runs in its own transaction and the batch goes on after one
  fails; whatever succeeded is committed.

Each successful operation writes its `entity.<type>.created|updated|deleted` event in the same
transaction, and the events are published once it has committed. A transaction PostgreSQL
aborts for a deadlock with a concurrent batch is retried a few times.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, Field, ValidationError

from ayon_server.entities import store
from ayon_server.entities.models import PATCH_MODELS, POST_MODELS
from ayon_server.entities.registry import EntityId, EntityType
from ayon_server.events.stream import EventModel, EventStream
from ayon_server.exceptions import AyonException, BadRequestException, ConflictException
from ayon_server.lib.postgres import Postgres
from ayon_server.projects.anatomy import EntityTypeName
from ayon_server.projects.changes import Actor, publish_events, record_event
from ayon_server.projects.models import RestModel
from ayon_server.projects.store import ProjectRef, load_project_ref

OperationType = Literal["create", "update", "delete"]
DEADLOCK_RETRIES = 3
DEADLOCK_DETAIL = "Conflicting concurrent changes to the same entities; retry"
_STATUS_OF = {"create": 201, "update": 204, "delete": 204}
_ERROR_CODES = {400: "bad-request", 403: "forbidden", 404: "not-found", 409: "conflict"}


class OperationModel(RestModel):
    """One operation as clients send it (ayon_api's to_server_operation)."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=128)
    type: OperationType
    entity_type: EntityTypeName
    entity_id: EntityId | None = None
    data: dict[str, Any] | None = None
    force: bool = False
    as_user: str | None = Field(default=None, max_length=128)


class OperationsRequestModel(RestModel):
    operations: list[OperationModel] = Field(default_factory=list)
    can_fail: bool = False
    raise_on_error: bool = False
    # Accepted for AYON compatibility: events are always written before the answer.
    wait_for_events: bool = False


class OperationResponseModel(RestModel):
    id: str
    type: OperationType
    entity_type: str
    entity_id: str | None = None
    success: bool
    status: int
    error_code: str | None = None
    detail: str | None = None


class OperationsResponseModel(RestModel):
    operations: list[OperationResponseModel]
    success: bool


@dataclass(frozen=True)
class Operation:
    """An operation ready to run: `data` is a raw dict (validated here) or a validated model."""

    id: str
    type: OperationType
    entity_type: EntityType
    entity_id: uuid.UUID | None
    data: dict[str, Any] | BaseModel | None
    actor: Actor
    force: bool = False


def check_batch(operations: Sequence[Operation]) -> None:
    """Reject a batch that cannot be right as a whole, before touching anything (AYON's rules:
    update and delete need an entityId, and one entity is updated or deleted once at most)."""
    seen: set[tuple[str, uuid.UUID]] = set()
    for operation in operations:
        if operation.type == "create":
            continue
        if operation.entity_id is None:
            raise BadRequestException(f"Operation {operation.id}: entityId is required")
        key = (operation.entity_type.name, operation.entity_id)
        if key in seen:
            raise BadRequestException(
                f"Operation {operation.id}: {operation.entity_type.name} "
                f"{operation.entity_id.hex} is updated or deleted twice in one batch"
            )
        seen.add(key)


def _validated(model: type[BaseModel], data: dict[str, Any] | BaseModel | None) -> BaseModel:
    if isinstance(data, BaseModel):
        return data
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'data'}: {error['msg']}"
            for error in exc.errors()
        )
        raise BadRequestException(f"Invalid data: {problems}") from None


async def apply_operation(
    conn: asyncpg.Connection, project: ProjectRef, operation: Operation
) -> store.Change | None:
    """Run one operation on the caller's transaction; database refusals become AYON errors."""
    entity_type = operation.entity_type
    try:
        if operation.type == "create":
            payload = _validated(POST_MODELS[entity_type.name], operation.data)
            return await store.create_entity(
                conn, project, entity_type, payload, operation.actor, entity_id=operation.entity_id
            )
        assert operation.entity_id is not None  # check_batch
        if operation.type == "update":
            payload = _validated(PATCH_MODELS[entity_type.name], operation.data)
            return await store.update_entity(
                conn, project, entity_type, operation.entity_id, payload, operation.actor
            )
        return await store.delete_entity(
            conn, project, entity_type, operation.entity_id, operation.actor, force=operation.force
        )
    except asyncpg.DataError as exc:
        raise BadRequestException(f"Invalid value: {exc}") from None
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise ConflictException(f"Rejected by the database: {exc}") from None


async def _record(
    events: EventStream,
    conn: asyncpg.Connection,
    project: ProjectRef,
    operation: Operation,
    change: store.Change | None,
) -> EventModel | None:
    if change is None:
        return None
    return await record_event(
        events,
        conn,
        operation.actor,
        change.topic,
        project=project.name,
        description=change.description,
        summary=change.summary,
        payload=change.payload,
    )


def _succeeded(operation: Operation, change: store.Change | None) -> OperationResponseModel:
    entity_id = change.entity_id if change else operation.entity_id
    return OperationResponseModel(
        id=operation.id,
        type=operation.type,
        entity_type=operation.entity_type.name,
        entity_id=entity_id.hex if entity_id else None,
        success=True,
        status=_STATUS_OF[operation.type],
    )


def _failed(operation: Operation, exc: AyonException) -> OperationResponseModel:
    return OperationResponseModel(
        id=operation.id,
        type=operation.type,
        entity_type=operation.entity_type.name,
        entity_id=operation.entity_id.hex if operation.entity_id else None,
        success=False,
        status=exc.status,
        error_code=_ERROR_CODES.get(exc.status, "error"),
        detail=exc.detail,
    )


class _RolledBack(Exception):
    """Leaves the batch transaction so it rolls back; carries the failure."""

    def __init__(self, error: AyonException):
        super().__init__(error.detail)
        self.error = error


async def _all_or_nothing(
    events: EventStream, db: Postgres, project_name: str, operations: Sequence[Operation]
) -> tuple[list[OperationResponseModel], list[EventModel], AyonException | None]:
    results: list[OperationResponseModel] = []
    written: list[EventModel] = []
    try:
        async with db.transaction() as conn:
            project = await load_project_ref(conn, project_name, lock=True)
            for operation in operations:
                try:
                    change = await apply_operation(conn, project, operation)
                except AyonException as exc:
                    results.append(_failed(operation, exc))
                    raise _RolledBack(exc) from None
                if event := await _record(events, conn, project, operation, change):
                    written.append(event)
                results.append(_succeeded(operation, change))
    except _RolledBack as rollback:
        return results, [], rollback.error
    return results, written, None


async def _one_by_one(
    events: EventStream, db: Postgres, project_name: str, operations: Sequence[Operation]
) -> tuple[list[OperationResponseModel], list[EventModel]]:
    await load_project_ref(db, project_name)  # 404 for the request, not for every operation
    results: list[OperationResponseModel] = []
    written: list[EventModel] = []
    for operation in operations:
        try:
            async with db.transaction() as conn:
                project = await load_project_ref(conn, project_name, lock=True)
                change = await apply_operation(conn, project, operation)
                event = await _record(events, conn, project, operation, change)
        except AyonException as exc:
            results.append(_failed(operation, exc))
            continue
        except asyncpg.DeadlockDetectedError:
            results.append(_failed(operation, ConflictException(DEADLOCK_DETAIL)))
            continue
        if event is not None:
            written.append(event)
        results.append(_succeeded(operation, change))
    return results, written


async def run_operations(
    events: EventStream,
    db: Postgres,
    project_name: str,
    operations: Sequence[Operation],
    *,
    can_fail: bool = False,
    raise_on_error: bool = False,
) -> OperationsResponseModel:
    """Run a batch (see the module docstring); 404 when the project does not exist."""
    check_batch(operations)
    if can_fail:
        results, written = await _one_by_one(events, db, project_name, operations)
    else:
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                results, written, error = await _all_or_nothing(
                    events, db, project_name, operations
                )
                break
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_RETRIES:
                    raise ConflictException(DEADLOCK_DETAIL) from None
                await asyncio.sleep(0.05 * attempt)
        if error is not None and raise_on_error:
            raise error
    await publish_events(events, written)
    return OperationsResponseModel(
        operations=results, success=all(result.success for result in results)
    )
