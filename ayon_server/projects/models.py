"""Request models of the projects API, in AYON's camelCase (snake_case accepted too).

Unknown keys are ignored, as AYON's models do: newer clients send fields we do not know yet
(AYON's own POST /api/projects ignores `data`; we store it).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ayon_server.projects.anatomy import Anatomy, EntityTypeName, link_type_name, unique_names
from ayon_server.projects.names import PROJECT_CODE_PATTERN, PROJECT_NAME_PATTERN


class RestModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


ProjectName = Annotated[str, Field(pattern=PROJECT_NAME_PATTERN)]
ProjectCode = Annotated[str, Field(pattern=PROJECT_CODE_PATTERN)]
Label = Annotated[str, Field(max_length=255)]


class ProjectItem(BaseModel):
    """A folder type, task type, status or tag as the project stores it (keys as given)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=100)


class LinkTypeModel(RestModel):
    """A link type of a project; `name` is derived from the three type parts when omitted."""

    name: str | None = None
    link_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$")
    input_type: EntityTypeName
    output_type: EntityTypeName
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _derive_name(self) -> LinkTypeModel:
        name = link_type_name(self.link_type, self.input_type, self.output_type)
        if self.name is not None and self.name != name:
            raise ValueError(f"link type name {self.name!r} must be {name!r}")
        self.name = name
        return self


def _unique(value: list[Any] | None, info: Any) -> list[Any] | None:
    if value is None:
        return None
    return unique_names(value, to_camel(info.field_name).rstrip("s"))


class ProjectPostModel(RestModel):
    """POST /api/projects: AYON's deploy request. Explicit lists, attrib and config override
    what `anatomy` deploys; without an anatomy the built-in one is deployed."""

    name: ProjectName
    code: ProjectCode
    label: Label | None = None
    library: bool = False
    active: bool = True
    anatomy: Anatomy | None = None
    folder_types: list[ProjectItem] | None = None
    task_types: list[ProjectItem] | None = None
    statuses: list[ProjectItem] | None = None
    tags: list[ProjectItem] | None = None
    link_types: list[LinkTypeModel] | None = None
    attrib: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    _unique_names = field_validator("folder_types", "task_types", "statuses", "tags")(_unique)


class ProjectPatchModel(RestModel):
    """PATCH /api/projects/{name}: lists replace, attrib/data/config merge (null removes a key)."""

    code: ProjectCode | None = None
    label: Label | None = None
    library: bool | None = None
    active: bool | None = None
    folder_types: list[ProjectItem] | None = None
    task_types: list[ProjectItem] | None = None
    statuses: list[ProjectItem] | None = None
    tags: list[ProjectItem] | None = None
    link_types: list[LinkTypeModel] | None = None
    attrib: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    config: dict[str, Any] | None = None

    _unique_names = field_validator("folder_types", "task_types", "statuses", "tags")(_unique)
