"""Events REST API: dispatch, read, patch, delete, and a list for the web UI.

Who may do what:
* POST: managers, admins and service users. Normal users get 403 (AYON's topic whitelist for
  them is empty). The event's user is always the caller; the body's `user` is ignored.
* GET one: any logged-in user but guests (event ids are not guessable; AYON does the same).
* GET list: managers, admins and service users; normal users get 403, as in AYON, where
  non-managers cannot list events either.
* PATCH: managers, admins and service users, any event. A normal user only the status (and
  description, progress) of an `action.launcher` event that is their own: the AYON launcher
  reports how the action it ran ended.
* DELETE: admins.

Unlike AYON, POST stores `dependsOn` (AYON accepts and drops it): ayon-python-api documents it as
"add dependency to another event", and a stored dependency keeps clean_events from deleting the
event it points to. It must name an existing event (else 400).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ayon_server.api.auth import AdminUser, Caller, CurrentUser, require_not_guest, sender_header
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.api.models.events import DispatchResponse, EventListResponse
from ayon_server.api.openapi import error_responses
from ayon_server.events.naming import EVENT_ID_PATTERN, NAME_PATTERN, TOPIC_PATTERN
from ayon_server.events.query import DEFAULT_LIMIT, MAX_LIMIT, EventQuery, list_events
from ayon_server.events.stream import EventModel, EventStatus
from ayon_server.exceptions import ForbiddenException, NotFoundException

router = APIRouter(prefix="/api", tags=["Events"])

USER_EVENT_TOPICS = ("action.launcher",)
# What a normal user may change on their own user event.
USER_EVENT_FIELDS = frozenset({"status", "description", "progress"})
DEFAULT_SENDER_TYPE = "api"
EVENT_NOT_FOUND = "Event not found"
# The largest value of an `integer` column.
MAX_INTEGER = 2**31 - 1

EventId = Annotated[
    str, Path(pattern=EVENT_ID_PATTERN, description="The event id, 32 hex characters")
]
Topic = Annotated[str, Field(pattern=TOPIC_PATTERN)]
ProjectName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class _Model(BaseModel):
    # AYON's models ignore unknown keys; newer clients may send fields we do not know yet.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class DispatchRequest(_Model):
    topic: Topic
    sender: str | None = Field(default=None, max_length=255)
    sender_type: str | None = Field(default=None, max_length=255)
    hash: str | None = Field(default=None, min_length=1, max_length=512)
    project: ProjectName | None = None
    user: str | None = Field(default=None, description="Ignored: the caller is the user")
    depends_on: str | None = Field(default=None, pattern=EVENT_ID_PATTERN)
    description: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    payload: dict[str, Any] = Field(default_factory=dict)
    finished: bool = True
    store: bool = True
    reuse: bool = False


class UpdateRequest(_Model):
    sender: str | None = Field(default=None, max_length=255)
    project: ProjectName | None = None
    project_name: ProjectName | None = Field(default=None, description="Deprecated: use project")
    user: str | None = Field(default=None, max_length=128)
    status: EventStatus | None = None
    description: str | None = None
    summary: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    progress: float | None = Field(default=None, ge=0, le=100)
    retries: int | None = Field(default=None, ge=0, le=MAX_INTEGER)


def is_privileged(caller: Caller) -> bool:
    return caller.user.is_manager or caller.user.is_service


async def privileged_caller(caller: CurrentUser) -> Caller:
    if not is_privileged(caller):
        raise ForbiddenException("Only managers, administrators and services can do this")
    return caller


PrivilegedUser = Annotated[Caller, Depends(privileged_caller)]


@router.post("/events", response_model=DispatchResponse)
async def post_event(
    body: DispatchRequest, request: Request, caller: PrivilegedUser, runtime: RuntimeDep
) -> DispatchResponse:
    event_id = await runtime.events.dispatch(
        body.topic,
        sender=body.sender or sender_header(request, "x-sender"),
        sender_type=body.sender_type
        or sender_header(request, "x-sender-type")
        or DEFAULT_SENDER_TYPE,
        hash=body.hash,
        project=body.project,
        user=caller.name,
        depends_on=body.depends_on,
        description=body.description or "",
        summary=body.summary,
        payload=body.payload,
        status="finished" if body.finished else "pending",
        store=body.store,
        reuse=body.reuse,
    )
    return DispatchResponse(id=event_id)


@router.get("/events", response_model=EventListResponse, response_model_by_alias=True)
async def get_events(
    _caller: PrivilegedUser,
    runtime: RuntimeDep,
    topic: Annotated[list[Topic] | None, Query(description="Repeatable; * is a wildcard")] = None,
    status: Annotated[list[EventStatus] | None, Query()] = None,
    project: Annotated[list[str] | None, Query()] = None,
    user: Annotated[list[str] | None, Query()] = None,
    newer_than: Annotated[datetime | None, Query(alias="newerThan")] = None,
    older_than: Annotated[datetime | None, Query(alias="olderThan")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventListResponse:
    page = await list_events(
        runtime.db,
        EventQuery(
            topics=topic or (),
            statuses=status or (),
            projects=project or (),
            users=user or (),
            newer_than=newer_than,
            older_than=older_than,
            limit=limit,
            cursor=cursor,
        ),
    )
    return EventListResponse(events=page.events, next_cursor=page.next_cursor)


@router.get(
    "/events/{event_id}",
    response_model=EventModel,
    response_model_by_alias=True,
    responses=error_responses(404),
)
async def get_event(event_id: EventId, caller: CurrentUser, runtime: RuntimeDep) -> EventModel:
    require_not_guest(caller, "Guests cannot read events")
    event = await runtime.events.get(event_id)
    if event is None:
        raise NotFoundException(EVENT_NOT_FOUND)
    return event


@router.patch(
    "/events/{event_id}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def patch_event(
    event_id: EventId, body: UpdateRequest, caller: CurrentUser, runtime: RuntimeDep
) -> Response:
    event = await runtime.events.get(event_id)
    if event is None:
        raise NotFoundException(EVENT_NOT_FOUND)
    if not is_privileged(caller):
        _check_user_event_patch(event, body, caller)
    updated = await runtime.events.update(
        event_id,
        sender=body.sender,
        project=body.project or body.project_name,
        user=body.user,
        status=body.status,
        description=body.description,
        summary=body.summary,
        payload=body.payload,
        retries=body.retries,
        progress=body.progress,
    )
    if updated is None:  # deleted since we read it
        raise NotFoundException(EVENT_NOT_FOUND)
    return Response(status_code=204)


def _check_user_event_patch(event: EventModel, body: UpdateRequest, caller: Caller) -> None:
    if event.topic not in USER_EVENT_TOPICS or event.user != caller.name:
        raise ForbiddenException("Not allowed to update this event")
    fields = {name for name in body.model_fields_set if getattr(body, name) is not None}
    if not fields <= USER_EVENT_FIELDS:
        disallowed = ", ".join(sorted(to_camel(name) for name in fields - USER_EVENT_FIELDS))
        raise ForbiddenException(f"Not allowed to change {disallowed} of this event")


@router.delete(
    "/events/{event_id}", status_code=204, response_class=Response, responses=error_responses(404)
)
async def delete_event(event_id: EventId, _admin: AdminUser, runtime: RuntimeDep) -> Response:
    if not await runtime.events.delete(event_id):
        raise NotFoundException(EVENT_NOT_FOUND)
    return Response(status_code=204)
