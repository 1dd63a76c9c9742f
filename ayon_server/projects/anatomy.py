"""Project anatomy: the built-in primary preset and how a preset becomes a project.

A preset uses snake_case keys, as AYON's settings models do:
`ayon_api.create_project` reads `GET /api/anatomy/presets/__primary__` and posts it back as the
new project's `anatomy`. Deploying one fills the project the way AYON's anatomy_to_project_data
does: folder/task types, statuses and tags as lists, link types named "type|input|output",
attributes as `attrib`, roots and templates in `config`. Keys a preset leaves out take the
built-in values, so `{"anatomy": {}}` is the built-in anatomy.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EntityTypeName = Literal["folder", "task", "product", "version", "representation", "workfile"]
PRIMARY_PRESET = "__primary__"
BUILTIN_PRESETS = (PRIMARY_PRESET, "__builtin__", "_")
BUILTIN_PRESET_VERSION = "4.0.0"

_ALL_SCOPES = ["folder", "product", "version", "representation", "task", "workfile"]


def _status(name: str, short: str, state: str, icon: str, color: str, scope: list[str]) -> dict:
    return {
        "name": name,
        "shortName": short,
        "state": state,
        "icon": icon,
        "color": color,
        "scope": scope,
    }


BUILTIN_ANATOMY: dict[str, Any] = {
    "entity_naming": {"capitalization": "keep", "separator": "_", "template": "{name}"},
    "roots": [
        {
            "name": "work",
            "windows": "C:/projects",
            "linux": "/mnt/share/projects",
            "darwin": "/Volumes/projects",
        }
    ],
    "templates": {
        "version_padding": 3,
        "version": "v{version:0>{@version_padding}}",
        "frame_padding": 4,
        "frame": "{frame:0>{@frame_padding}}",
        "work": [
            {
                "name": "default",
                "directory": "{root[work]}/{project[name]}/{hierarchy}/{folder[name]}/work/"
                "{task[name]}",
                "file": "{project[code]}_{folder[name]}_{task[name]}_{@version}<_{comment}>.{ext}",
            }
        ],
        "publish": [
            {
                "name": "default",
                "directory": "{root[work]}/{project[name]}/{hierarchy}/{folder[name]}/publish/"
                "{product[type]}/{product[name]}/{@version}",
                "file": "{project[code]}_{folder[name]}_{product[name]}_{@version}"
                "<_{output}><.{@frame}><_{udim}>.{ext}",
            }
        ],
        "hero": [
            {
                "name": "default",
                "directory": "{root[work]}/{project[name]}/{hierarchy}/{folder[name]}/publish/"
                "{product[type]}/{product[name]}/hero",
                "file": "{project[code]}_{folder[name]}_{product[name]}_hero"
                "<_{output}><.{@frame}><_{udim}>.{ext}",
            }
        ],
        "delivery": [],
        "staging": [],
        "others": [],
    },
    "attributes": {
        "fps": 25.0,
        "resolutionWidth": 1920,
        "resolutionHeight": 1080,
        "pixelAspect": 1.0,
        "clipIn": 1,
        "clipOut": 1,
        "frameStart": 1001,
        "frameEnd": 1001,
        "handleStart": 0,
        "handleEnd": 0,
    },
    "folder_types": [
        {"name": "Folder", "shortName": "", "icon": "folder"},
        {"name": "Library", "shortName": "lib", "icon": "category"},
        {"name": "Asset", "shortName": "", "icon": "smart_toy"},
        {"name": "Episode", "shortName": "ep", "icon": "live_tv"},
        {"name": "Sequence", "shortName": "sq", "icon": "theaters"},
        {"name": "Shot", "shortName": "sh", "icon": "movie"},
    ],
    "task_types": [
        {"name": "Generic", "shortName": "gener", "icon": "task_alt"},
        {"name": "Art", "shortName": "art", "icon": "palette"},
        {"name": "Modeling", "shortName": "mdl", "icon": "language"},
        {"name": "Texture", "shortName": "tex", "icon": "brush"},
        {"name": "Lookdev", "shortName": "look", "icon": "ev_shadow"},
        {"name": "Rigging", "shortName": "rig", "icon": "construction"},
        {"name": "Edit", "shortName": "edit", "icon": "imagesearch_roller"},
        {"name": "Layout", "shortName": "lay", "icon": "nature_people"},
        {"name": "Animation", "shortName": "anim", "icon": "directions_run"},
        {"name": "FX", "shortName": "fx", "icon": "fireplace"},
        {"name": "Lighting", "shortName": "lgt", "icon": "highlight"},
        {"name": "Compositing", "shortName": "comp", "icon": "layers"},
    ],
    "link_types": [
        {
            "link_type": "generative",
            "input_type": "version",
            "output_type": "version",
            "color": "#2626e0",
            "style": "solid",
        },
        {
            "link_type": "breakdown",
            "input_type": "folder",
            "output_type": "folder",
            "color": "#27792a",
            "style": "solid",
        },
        {
            "link_type": "reference",
            "input_type": "version",
            "output_type": "version",
            "color": "#d94383",
            "style": "solid",
        },
        {
            "link_type": "template",
            "input_type": "folder",
            "output_type": "folder",
            "color": "#d94383",
            "style": "solid",
        },
    ],
    "statuses": [
        _status(
            "Not ready", "NRD", "not_started", "fiber_new", "#3d444f", ["folder", "product", "task"]
        ),
        _status("Ready to start", "RDY", "not_started", "timer", "#bababa", ["folder", "task"]),
        _status("In progress", "PRG", "in_progress", "play_arrow", "#5bb8f5", ["folder", "task"]),
        _status(
            "Pending review",
            "RVW",
            "in_progress",
            "visibility",
            "#ffcd19",
            ["folder", "version", "task"],
        ),
        _status(
            "Approved",
            "APP",
            "done",
            "task_alt",
            "#08f094",
            ["folder", "product", "version", "task"],
        ),
        _status("On hold", "HLD", "blocked", "back_hand", "#fa6e46", ["folder", "task"]),
        _status("Omitted", "OMT", "blocked", "block", "#cb1a1a", _ALL_SCOPES),
    ],
    "tags": [],
    "product_base_types": {"default": [], "definitions": []},
}


def builtin_anatomy() -> dict[str, Any]:
    """A fresh copy of the built-in preset (callers may change it)."""
    return copy.deepcopy(BUILTIN_ANATOMY)


class _Item(BaseModel):
    """A folder type, task type, status or tag: a unique name plus whatever the UI keeps."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=100)


class AnatomyLinkType(BaseModel):
    model_config = ConfigDict(extra="ignore")

    link_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$")
    input_type: EntityTypeName
    output_type: EntityTypeName
    color: str | None = None
    style: str | None = "solid"


class _Root(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    windows: str = ""
    linux: str = ""
    darwin: str = ""


class _Template(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=100)


_TEMPLATE_GROUPS = ("work", "publish", "hero", "delivery", "others", "staging")


class _Templates(BaseModel):
    model_config = ConfigDict(extra="allow")

    version_padding: int = Field(default=3, gt=0)
    version: str = BUILTIN_ANATOMY["templates"]["version"]
    frame_padding: int = Field(default=4, gt=0)
    frame: str = BUILTIN_ANATOMY["templates"]["frame"]
    work: list[_Template] = []
    publish: list[_Template] = []
    hero: list[_Template] = []
    delivery: list[_Template] = []
    others: list[_Template] = []
    staging: list[_Template] = []


def unique_names(items: list[Any], what: str) -> list[Any]:
    """Reject two items with the same name (AYON compares names case-insensitively)."""
    seen: set[str] = set()
    for item in items:
        name = (item["name"] if isinstance(item, dict) else item.name).lower()
        if name in seen:
            raise ValueError(f"duplicate {what} name {name!r}")
        seen.add(name)
    return items


class Anatomy(BaseModel):
    """A preset as clients send it; missing keys take the built-in values."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    roots: list[_Root] = Field(default_factory=lambda: builtin_anatomy()["roots"])
    templates: _Templates = Field(default_factory=lambda: builtin_anatomy()["templates"])
    attributes: dict[str, Any] = Field(default_factory=lambda: builtin_anatomy()["attributes"])
    folder_types: list[_Item] = Field(default_factory=lambda: builtin_anatomy()["folder_types"])
    task_types: list[_Item] = Field(default_factory=lambda: builtin_anatomy()["task_types"])
    link_types: list[AnatomyLinkType] = Field(
        default_factory=lambda: builtin_anatomy()["link_types"]
    )
    statuses: list[_Item] = Field(default_factory=lambda: builtin_anatomy()["statuses"])
    tags: list[_Item] = Field(default_factory=lambda: builtin_anatomy()["tags"])
    entity_naming: dict[str, Any] = Field(
        default_factory=lambda: builtin_anatomy()["entity_naming"]
    )
    product_base_types: dict[str, Any] = Field(
        default_factory=lambda: builtin_anatomy()["product_base_types"]
    )

    @field_validator("roots", "folder_types", "task_types", "statuses", "tags")
    @classmethod
    def _unique(cls, value: list[Any], info: Any) -> list[Any]:
        return unique_names(value, info.field_name.rstrip("s").replace("_", " "))


def link_type_name(link_type: str, input_type: str, output_type: str) -> str:
    return f"{link_type}|{input_type}|{output_type}"


def anatomy_to_project(anatomy: Anatomy) -> dict[str, Any]:
    """The project fields an anatomy deploys: lists, attrib, config and link types."""
    templates = anatomy.templates.model_dump()
    config: dict[str, Any] = {
        "roots": {
            root.name: {"windows": root.windows, "linux": root.linux, "darwin": root.darwin}
            for root in anatomy.roots
        },
        "templates": {
            "common": {
                key: templates[key]
                for key in ("version_padding", "version", "frame_padding", "frame")
            }
        },
        "entityNaming": anatomy.entity_naming,
        "productBaseTypes": anatomy.product_base_types,
    }
    for group in _TEMPLATE_GROUPS:
        if templates.get(group):
            config["templates"][group] = {
                item["name"]: {k: v for k, v in item.items() if k != "name"}
                for item in templates[group]
            }
    return {
        "folder_types": [item.model_dump() for item in anatomy.folder_types],
        "task_types": [item.model_dump() for item in anatomy.task_types],
        "statuses": [item.model_dump() for item in anatomy.statuses],
        "tags": [item.model_dump() for item in anatomy.tags],
        "attrib": anatomy.attributes,
        "config": config,
        "link_types": [
            {
                "name": link_type_name(lt.link_type, lt.input_type, lt.output_type),
                "link_type": lt.link_type,
                "input_type": lt.input_type,
                "output_type": lt.output_type,
                "data": {"color": lt.color, "style": lt.style},
            }
            for lt in anatomy.link_types
        ],
    }
