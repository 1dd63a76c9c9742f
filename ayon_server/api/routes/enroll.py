"""`POST /api/enroll`: a service worker asks for its next job.

200 with `{id, dependsOn, hash, status}`, 204 when there is nothing to do (not an error: workers
poll), 503 when the server is too busy to look (AYON's clients retry 503), 403 unless the caller
is a service user. The algorithm and its concurrency guarantees are in ayon_server.events.enroll.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ayon_server.api.auth import CurrentUser
from ayon_server.api.dependencies import RuntimeDep
from ayon_server.events.enroll import EnrollRequest, EnrollResponse, enroll_job
from ayon_server.events.filter import QueryFilter
from ayon_server.events.naming import TOPIC_PATTERN, is_name, is_topic
from ayon_server.exceptions import (
    BadRequestException,
    ForbiddenException,
    ServiceUnavailableException,
)

router = APIRouter(prefix="/api", tags=["Events"])

# Enrolling is background work: it must leave connections for user requests (AYON keeps 3).
RESERVED_CONNECTIONS = 3
TopicList = Annotated[list[str], Field(min_length=1, max_length=100)]


class EnrollBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    source_topic: str | TopicList
    target_topic: str = Field(pattern=TOPIC_PATTERN)
    sender: str | None = Field(default=None, min_length=1, max_length=255)
    sender_type: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    sequential: bool = False
    filter: QueryFilter | None = None
    max_retries: int = Field(default=3, ge=0, le=1000)
    ignore_older_than: int = Field(default=3, ge=0, description="Days; 0 means no limit")
    ignore_sender_types: list[str] | None = None
    debug: bool = False
    sloth_mode: bool = Field(default=False, description="AYON's name for debug")


def _strict_header(request: Request, header: str) -> str | None:
    value = request.headers.get(header)
    if value is not None and not is_name(value):
        raise BadRequestException(f"Invalid {header} header: {value!r}")
    return value


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    responses={204: {"description": "Nothing to do"}, 503: {"description": "Busy, retry"}},
)
async def enroll(
    body: EnrollBody, request: Request, caller: CurrentUser, runtime: RuntimeDep
) -> EnrollResponse | Response:
    if not caller.user.is_service:
        raise ForbiddenException("Only services can enroll for jobs")
    header_sender = _strict_header(request, "x-sender")
    header_sender_type = _strict_header(request, "x-sender-type")
    sources = [body.source_topic] if isinstance(body.source_topic, str) else body.source_topic
    for topic in sources:
        if not is_topic(topic):
            raise BadRequestException(f"Invalid source topic: {topic!r}")
    if "*" in body.target_topic:
        raise BadRequestException("The target topic must not contain wildcards")
    sender = body.sender or header_sender
    if sender is None:
        raise BadRequestException("Give a sender (in the body or the x-sender header)")
    in_use, _ = runtime.db.pool_usage()
    if runtime.db.max_size - in_use < RESERVED_CONNECTIONS:
        raise ServiceUnavailableException("Server is busy, retry later")

    job = await enroll_job(
        runtime.db,
        runtime.events,
        EnrollRequest(
            source_topics=sources,
            target_topic=body.target_topic,
            sender=sender,
            sender_type=body.sender_type or header_sender_type,
            user_name=caller.name,
            description=body.description,
            sequential=body.sequential,
            filter=body.filter,
            max_retries=body.max_retries,
            ignore_older_than=body.ignore_older_than,
            ignore_sender_types=body.ignore_sender_types or (),
            debug=body.debug or body.sloth_mode,
        ),
    )
    if job is None:
        return Response(status_code=204)
    return job
