"""Anatomy presets: the built-in preset, which is also the primary one
(`__primary__`, `__builtin__` and `_` all name it).

`ayon_api.create_project` reads `GET /api/anatomy/presets/__primary__` and posts it back as the
new project's anatomy. Stored, named presets are not implemented: other names are 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ayon_server.api.auth import CurrentUser
from ayon_server.api.models.catalog import AnatomyPresetListResponse, AnatomyPresetResponse
from ayon_server.api.openapi import error_responses, sends
from ayon_server.exceptions import NotFoundException
from ayon_server.projects.anatomy import BUILTIN_PRESET_VERSION, BUILTIN_PRESETS, builtin_anatomy

router = APIRouter(prefix="/api/anatomy", tags=["Anatomy"])


@router.get("/presets", response_model=AnatomyPresetListResponse)
async def list_presets(_caller: CurrentUser) -> dict[str, Any]:
    """No stored presets: clients then use the built-in one ("_"), as with an empty AYON."""
    return {"version": BUILTIN_PRESET_VERSION, "presets": []}


@router.get(
    "/presets/{preset_name}",
    response_model=None,
    responses={**sends(AnatomyPresetResponse), **error_responses(404)},
)
async def get_preset(preset_name: str, _caller: CurrentUser) -> dict[str, Any]:
    if preset_name not in BUILTIN_PRESETS:
        raise NotFoundException(f"Anatomy preset {preset_name} not found")
    return builtin_anatomy()
