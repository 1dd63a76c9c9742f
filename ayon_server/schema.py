"""A directory of ordered SQL migrations and the database's view of them.

Setup applies them; the server's readiness check compares. Both read this one catalog. The
directory is the setup package's (setup.MIGRATIONS_DIR), passed in: the core never reaches into
setup/ by path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class SchemaState:
    """How the database's applied migrations compare with the ones this release ships.

    Migrations within a release line only add (expand), so a database that has newer ones than
    this release knows still serves it: old replicas keep running while a new release's setup
    migrates. Only a missing or a changed migration makes the schema unusable for this release.
    """

    pending: list[Migration]
    changed: list[str]  # file names whose applied checksum differs from the file on disk
    newer: list[int]  # versions applied in the database with no file here (a newer release ran)

    @property
    def current(self) -> bool:
        """Every migration this release needs is applied, unchanged."""
        return not (self.pending or self.changed)

    def problems(self) -> list[str]:
        out = []
        if self.changed:
            out.append("applied migration changed on disk: " + ", ".join(self.changed))
        if self.pending:
            out.append("pending migrations: " + ", ".join(m.filename for m in self.pending))
        return out

    def newer_note(self) -> str | None:
        if not self.newer:
            return None
        versions = ", ".join(str(v) for v in self.newer)
        return f"database has newer migrations {versions}: fine during an upgrade"


def load_migrations(directory: Path) -> list[Migration]:
    """The NNNN_name.sql files of `directory`, in version order."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        sql = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        migrations.append(Migration(int(match[1]), match[2], path, sql, checksum))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError("two migration files share a version number")
    return migrations


async def schema_state(conn: asyncpg.Connection, migrations: list[Migration]) -> SchemaState:
    """How the database stands against `migrations` (what a release ships)."""
    exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    applied: dict[int, str] = {}
    if exists:
        rows = await conn.fetch("SELECT version, checksum FROM public.schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
    known = {m.version for m in migrations}
    return SchemaState(
        pending=[m for m in migrations if m.version not in applied],
        changed=[
            m.filename
            for m in migrations
            if m.version in applied and applied[m.version] != m.checksum
        ],
        newer=sorted(v for v in applied if v not in known),
    )
