"""Operations run in the background: the task a client polls."""

from __future__ import annotations

from typing import Literal

from ayon_server.api.models.common import WireModel
from ayon_server.entities.operations import OperationsResponseModel


class BackgroundTaskResponse(WireModel):
    id: str
    status: Literal["pending", "in_progress", "completed"]
    # Once completed: what POST .../operations would have answered.
    result: OperationsResponseModel | None = None
