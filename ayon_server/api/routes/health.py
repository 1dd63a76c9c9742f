"""Probes (a fixed contract): liveness `/api/health` and readiness `/api/ready`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ayon_server.api.dependencies import ServerStateDep
from ayon_server.api.errors import RETRY_AFTER_SECONDS
from ayon_server.api.models.health import HealthResponse, NotReadyResponse, ReadyResponse
from ayon_server.api.readiness import check_readiness

router = APIRouter(prefix="/api", tags=["Health"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health", response_model=HealthResponse)
async def get_health() -> JSONResponse:
    """200 while the process serves HTTP; touches no dependency, so an outage never kills pods."""
    return JSONResponse(HealthResponse().model_dump(), headers=NO_STORE)


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={503: {"model": NotReadyResponse, "description": "Not ready, with the reasons"}},
)
async def get_ready(state: ServerStateDep) -> JSONResponse:
    """200 when PostgreSQL and Redis answer and the schema is current; else 503 saying why."""
    readiness = await check_readiness(state)
    if readiness.ready:
        body = ReadyResponse(checks=readiness.checks_body())
        return JSONResponse(body.model_dump(), headers=NO_STORE)
    body = NotReadyResponse(
        detail="Not ready: " + "; ".join(readiness.reasons()), checks=readiness.checks_body()
    )
    return JSONResponse(
        body.model_dump(),
        status_code=503,
        headers={**NO_STORE, "Retry-After": RETRY_AFTER_SECONDS},
    )
