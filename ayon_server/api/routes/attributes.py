"""`GET /api/attributes`: attribute definitions (the client reads them after login)."""

from __future__ import annotations

from fastapi import APIRouter

from ayon_server.api.auth import CurrentUser
from ayon_server.api.models.catalog import AttributesResponse
from ayon_server.attributes import list_attributes

router = APIRouter(prefix="/api", tags=["Attributes"])


@router.get("/attributes", response_model=AttributesResponse)
async def get_attributes(_caller: CurrentUser) -> AttributesResponse:
    return AttributesResponse(attributes=list_attributes())
