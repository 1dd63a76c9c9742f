"""ActionContext: where in the pipeline the user triggered an action (AYON's request body)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# The entity types AYON's web UI sends: project-level entities, entity lists, or the project.
ActionEntityType = Literal[
    "project", "list", "folder", "task", "product", "version", "representation", "workfile"
]
PROJECT_NAME_PATTERN = r"^[a-zA-Z0-9_]{1,64}$"


class ActionContext(BaseModel):
    """camelCase on the wire; snake_case accepted too. Unknown keys are ignored, as newer
    clients may send more than this server knows about."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    project_name: str | None = Field(default=None, pattern=PROJECT_NAME_PATTERN)
    entity_type: ActionEntityType | None = None
    entity_subtypes: list[str] | None = None
    entity_ids: list[str] | None = None
    form_data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _normalize(self) -> ActionContext:
        # As AYON: without a project the action is global and the entity fields mean nothing;
        # with an entity type, a missing id list is an empty one.
        if self.project_name is None:
            self.entity_type = self.entity_subtypes = self.entity_ids = None
        elif self.entity_type is not None and self.entity_ids is None:
            self.entity_ids = []
        return self

    def payload(self) -> dict[str, Any]:
        """The camelCase form stored in the event payload and handed to the launcher."""
        return self.model_dump(mode="json", by_alias=True)
