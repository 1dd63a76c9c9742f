"""The events API: what a dispatch answers and an event page."""

from __future__ import annotations

from pydantic import BaseModel

from ayon_server.api.models.common import WireModel
from ayon_server.events.stream import EventModel


class DispatchResponse(BaseModel):
    id: str


class EventListResponse(WireModel):
    events: list[EventModel]
    next_cursor: str | None = None
