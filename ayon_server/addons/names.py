"""Validated names of what this package stores: addon names and versions, package file names
and platforms. Every one of them ends up in a file path on every replica, so they are checked
before anything is stored."""

from __future__ import annotations

import re

from ayon_server.exceptions import BadRequestException

ADDON_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_\-]{0,63}$"
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
VERSION_MAX_LENGTH = 64
# Dependency package / installer file names: AYON's, in ASCII, without a leading dot or "..".
FILENAME_PATTERN = r"^[A-Za-z0-9_\-+][A-Za-z0-9_\-+.]*$"
FILENAME_MAX_LENGTH = 255
BUNDLE_NAME_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9_.\-]{0,63}$"
PLATFORMS = ("windows", "linux", "darwin")

_ADDON_NAME_RE = re.compile(ADDON_NAME_PATTERN)
_SEMVER_RE = re.compile(SEMVER_PATTERN)
_FILENAME_RE = re.compile(FILENAME_PATTERN)


def is_addon_name(value: object) -> bool:
    return isinstance(value, str) and bool(_ADDON_NAME_RE.match(value))


def is_version(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= VERSION_MAX_LENGTH
        and bool(_SEMVER_RE.match(value))
    )


def is_filename(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= FILENAME_MAX_LENGTH
        and ".." not in value
        and bool(_FILENAME_RE.match(value))
    )


def check_addon_name(value: object) -> str:
    if not is_addon_name(value):
        raise BadRequestException(
            f"Invalid addon name {value!r}: letters, digits, '_' and '-', starting with a letter,"
            " at most 64 characters"
        )
    assert isinstance(value, str)
    return value


def check_version(value: object) -> str:
    if not is_version(value):
        raise BadRequestException(f"Invalid addon version {value!r}: must be semver (1.2.3)")
    assert isinstance(value, str)
    return value


def check_filename(value: object) -> str:
    if not is_filename(value):
        raise BadRequestException(
            f"Invalid file name {value!r}: letters, digits, '_', '-', '+' and '.', no '..'"
        )
    assert isinstance(value, str)
    return value
