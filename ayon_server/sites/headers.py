"""The client's site as its x-ayon-* request headers describe it.

A site is registered only when all four headers are present. Values come from machines we do not
control, so they are checked before they reach the database; a bad value is reported, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Platform = Literal["windows", "linux", "darwin"]
PLATFORMS: tuple[str, ...] = get_args(Platform)

SITE_ID_HEADER = "x-ayon-site-id"
PLATFORM_HEADER = "x-ayon-platform"
HOSTNAME_HEADER = "x-ayon-hostname"
VERSION_HEADER = "x-ayon-version"
SITE_HEADERS = (SITE_ID_HEADER, PLATFORM_HEADER, HOSTNAME_HEADER, VERSION_HEADER)

# The launcher generates ids like "quick-brown-fox"; AYON's name rule covers them.
SITE_ID_RE = re.compile(r"^[a-zA-Z0-9_]([a-zA-Z0-9_.\-]*[a-zA-Z0-9_])?$")
MAX_SITE_ID_LENGTH = 128
MAX_HOSTNAME_LENGTH = 255
MAX_VERSION_LENGTH = 64
# Hostnames and versions are free text from the client, but never control characters.
_PRINTABLE_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")


class InvalidSiteHeaders(ValueError):
    """All four headers were sent but one holds a value we do not store; the message names it."""


@dataclass(frozen=True)
class ClientSite:
    id: str
    platform: Platform
    hostname: str
    version: str


def site_from_headers(headers: Mapping[str, str]) -> ClientSite | None:
    """The client's site, or None when any of the four headers is missing or empty."""
    values = {name: (headers.get(name) or "").strip() for name in SITE_HEADERS}
    if not all(values.values()):
        return None
    site_id = values[SITE_ID_HEADER]
    if len(site_id) > MAX_SITE_ID_LENGTH or not SITE_ID_RE.match(site_id):
        raise InvalidSiteHeaders(
            f"{SITE_ID_HEADER} {site_id[:MAX_SITE_ID_LENGTH]!r} is not a valid site id "
            f"(letters, digits, '_', '-', '.'; at most {MAX_SITE_ID_LENGTH} characters)"
        )
    platform = values[PLATFORM_HEADER].lower()
    if platform not in PLATFORMS:
        raise InvalidSiteHeaders(
            f"{PLATFORM_HEADER} {values[PLATFORM_HEADER][:32]!r} is not one of "
            + ", ".join(PLATFORMS)
        )
    _check_text(HOSTNAME_HEADER, values[HOSTNAME_HEADER], MAX_HOSTNAME_LENGTH)
    _check_text(VERSION_HEADER, values[VERSION_HEADER], MAX_VERSION_LENGTH)
    return ClientSite(
        id=site_id,
        platform=platform,  # type: ignore[arg-type]  # checked against PLATFORMS above
        hostname=values[HOSTNAME_HEADER],
        version=values[VERSION_HEADER],
    )


def _check_text(header: str, value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise InvalidSiteHeaders(f"{header} is longer than {max_length} characters")
    if not _PRINTABLE_RE.match(value):
        raise InvalidSiteHeaders(f"{header} contains control characters")
