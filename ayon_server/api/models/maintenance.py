"""The maintenance API's answers that the routes do not build from a model of their own."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RunStartedResponse(BaseModel):
    id: str = Field(description="The run's `server.maintenance` event")
    eventId: str = Field(description="The same id, under AYON's name for it")
