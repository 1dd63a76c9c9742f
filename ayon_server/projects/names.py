"""Project names and the schema each project's data lives in.

A name matches ^[a-zA-Z0-9_]{1,64}$ and keeps its case; its schema is `project_` + the lowercased
name cut at PostgreSQL's 63-character identifier limit. `project_schema` mirrors the SQL function
public.project_schema_name (migration 0004), which the database uses for uniqueness; a test keeps
the two in step. Every identifier built from a name goes through `quote_ident` after validation.
"""

from __future__ import annotations

import re

from ayon_server.exceptions import BadRequestException
from ayon_server.lib.postgres import quote_ident

PROJECT_NAME_PATTERN = r"^[a-zA-Z0-9_]{1,64}$"
PROJECT_CODE_PATTERN = r"^[a-zA-Z0-9_]{1,64}$"
MAX_IDENTIFIER_LENGTH = 63

_PROJECT_NAME_RE = re.compile(PROJECT_NAME_PATTERN)


def validate_project_name(name: str) -> str:
    """The name itself; 400 when it is not a valid project name."""
    if not _PROJECT_NAME_RE.match(name):
        raise BadRequestException(
            f"Invalid project name {name[:80]!r}: use 1 to 64 letters, digits or underscores"
        )
    return name


def project_schema(name: str) -> str:
    """The schema name of a (validated) project name, unquoted."""
    return f"project_{validate_project_name(name).lower()}"[:MAX_IDENTIFIER_LENGTH]


def quoted_schema(name: str) -> str:
    """The project's schema as an SQL identifier, ready to prefix a table name."""
    return quote_ident(project_schema(name))
