"""Actions: what a context offers, what executing one answers, what the launcher takes."""

from __future__ import annotations

from typing import Any, Literal

from ayon_server.api.models.common import JsonObject, WireModel


class ActionListResponse(WireModel):
    actions: list[JsonObject]


class ExecuteResponse(WireModel):
    type: Literal["simple", "launcher", "form", "navigate", "query", "redirect"]
    success: bool = True
    message: str | None = None
    payload: dict[str, Any] | None = None


class TakeResponse(WireModel):
    event_id: str
    action_identifier: str
    args: list[str]
    context: dict[str, Any]
    addon_name: str
    addon_version: str
    variant: str
    user_name: str
