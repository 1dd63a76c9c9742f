"""The wire shapes of addons, bundles, dependency packages and installers (AYON's camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EventIdResponse(_Camel):
    """The event that tracks the request; null when nothing runs after the answer."""

    event_id: str | None


class AddonInstall(_Camel):
    id: str
    topic: str
    description: str
    addon_name: str | None
    addon_version: str | None
    user: str | None
    status: str
    created_at: datetime
    updated_at: datetime


class AddonInstallList(_Camel):
    items: list[AddonInstall]
    # Addons run no server code here, so nothing ever needs a restart.
    restart_required: bool = False


class ClientSource(_Camel):
    type: Literal["server"]
    filename: str


class AddonVersionInfo(_Camel):
    has_settings: bool = False
    has_site_settings: bool = False
    frontend_scopes: dict[str, Any] = {}
    client_source_info: list[ClientSource] | None = None  # with ?details=1
    is_broken: bool = False
    project_can_override_addon_version: bool = False


class AddonInfo(_Camel):
    name: str
    title: str
    description: str
    versions: dict[str, AddonVersionInfo]
    production_version: str | None = None
    staging_version: str | None = None
    addon_type: Literal["server", "pipeline"] = "pipeline"
    system: bool = False
    project_can_override_addon_version: bool = False


class AddonList(_Camel):
    addons: list[AddonInfo]


class Bundle(_Camel):
    name: str
    created_at: datetime
    updated_at: datetime
    installer_version: str | None
    addons: dict[str, str | None]
    dependency_packages: dict[str, str]
    addon_development: dict[str, Any]
    is_production: bool
    is_staging: bool
    is_dev: bool
    is_archived: bool = False
    active_user: str | None


class BundleList(_Camel):
    bundles: list[Bundle]
    production_bundle: str | None
    staging_bundle: str | None
    dev_bundles: list[str]


class _Package(_Camel):
    """A dependency package or installer: its manifest's fields as they were given, and the
    sources it can be fetched from (`{"type": "server", ...}` once uploaded here)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    filename: str
    platform: str
    size: int | None = None
    checksum: str | None = None
    checksum_algorithm: str | None = None
    python_modules: dict[str, Any] = {}
    sources: list[dict[str, Any]] = []


class DependencyPackage(_Package):
    installer_version: str | None = None
    source_addons: dict[str, str] = {}


class Installer(_Package):
    version: str
    runtime_python_modules: dict[str, Any] = {}


class DependencyPackageList(_Camel):
    packages: list[DependencyPackage]


class InstallerList(_Camel):
    installers: list[Installer]
