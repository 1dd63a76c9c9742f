"""The probes: /api/health and /api/ready."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, Any]


class NotReadyResponse(BaseModel):
    code: Literal[503] = 503
    detail: str
    checks: dict[str, Any]
