"""The project schema template: written whole in one migration, matched by every upgrade.

The rule lives in setup/migrations/README.md ("Project schemas"): a migration that changes the
project tables brings every existing project schema to the new state and replaces
public.create_project_schema() with its full current text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ayon_server.config import Settings
from ayon_server.projects.names import project_schema, quoted_schema
from ayon_server.schema import Migration, load_migrations
from setup import MIGRATIONS_DIR
from setup.database import create_database
from setup.migrate import apply_migrations

RULE = "see setup/migrations/README.md, section 'Project schemas'"
README = MIGRATIONS_DIR / "README.md"

_DEFINES_TEMPLATE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:public\.)?create_project_schema\s*\(", re.I
)
_BODY = re.compile(r"\bAS\s+(\$\w*\$)(.*?)\1", re.S | re.I)

# What a project schema consists of, read from the catalog; $1 is the schema name. Rows hold
# no OIDs or column numbers, which depend on history (dropped columns leave gaps); the order of
# the live columns is compared on its own, so one misplaced column reads as one difference.
CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind::text, c.relpersistence::text, c.relrowsecurity,
               coalesce(c.reloptions::text, ''), coalesce(c.relacl::text, '')
        FROM pg_class c WHERE c.relnamespace = $1::regnamespace
    """,
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(co.collname, ''),
               a.attstorage::text, a.attidentity::text, a.attgenerated::text
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relnamespace = $1::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "column order": """
        SELECT c.relname, string_agg(a.attname, ', ' ORDER BY a.attnum)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = $1::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
        GROUP BY c.relname
    """,
    "constraints": """
        SELECT c.relname, con.conname, con.contype::text, pg_get_constraintdef(con.oid),
               con.condeferrable, con.condeferred, con.convalidated
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        WHERE con.connamespace = $1::regnamespace
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = $1::regnamespace
    """,
}

Catalog = dict[str, set[tuple[str, ...]]]


async def project_catalog(conn: asyncpg.Connection, name: str) -> Catalog:
    """The schema's objects, its own name replaced so two projects' catalogs compare."""
    schema = project_schema(name)
    assert await conn.fetchval("SELECT to_regnamespace($1) IS NOT NULL", schema), schema
    return {
        aspect: {
            tuple(str(value).replace(schema, "<schema>") for value in row)
            for row in await conn.fetch(query, schema)
        }
        for aspect, query in CATALOG.items()
    }


def differences(template: Catalog, upgraded: Catalog) -> list[str]:
    out = []
    for aspect in CATALOG:
        only_template = sorted(template[aspect] - upgraded[aspect])
        only_upgraded = sorted(upgraded[aspect] - template[aspect])
        out += [f"  {aspect}, only from the template: {row}" for row in only_template]
        out += [f"  {aspect}, only in the upgraded project: {row}" for row in only_upgraded]
    return out


async def create_project(conn: asyncpg.Connection, name: str) -> None:
    """A project the way the server creates one, in the columns every version has had."""
    async with conn.transaction():
        await conn.execute("INSERT INTO public.projects (name, code) VALUES ($1, $1)", name)
        await conn.fetchval("SELECT public.create_project_schema($1)", name)


async def defines_template(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval(
        "SELECT to_regprocedure('public.create_project_schema(text)') IS NOT NULL"
    )


async def write_rows(conn: asyncpg.Connection, name: str, thumbnail: uuid.UUID) -> None:
    """A thumbnail and a folder showing it, for the upgrades to carry along. Only in a project
    of the first template: its tables are fixed for good, as its migration never changes."""
    schema = quoted_schema(name)
    await conn.execute(
        f"INSERT INTO {schema}.thumbnails (id, mime, data) VALUES ($1, 'image/png', 'x')", thumbnail
    )
    await conn.execute(
        f"INSERT INTO {schema}.folders (id, name, folder_type, path, status, thumbnail_id) "
        "VALUES ($1, 'sq010', 'Sequence', 'sq010', 'Not ready', $2)",
        uuid.uuid4(),
        thumbnail,
    )


@pytest.fixture
async def migrating_database(empty_database: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a new database with no migration applied yet."""
    await create_database(empty_database.postgres_url)
    conn = await asyncpg.connect(empty_database.postgres_url)
    try:
        yield conn
    finally:
        await conn.close()


async def test_a_project_created_under_any_older_template_is_upgraded_to_the_current_one(
    migrating_database: asyncpg.Connection,
) -> None:
    conn = migrating_database
    migrations = load_migrations(MIGRATIONS_DIR)
    older: list[tuple[str, str]] = []  # (migration the project was created after, project name)
    thumbnail = uuid.uuid4()
    for count, migration in enumerate(migrations[:-1], start=1):
        await apply_migrations(conn, migrations[:count])
        if await defines_template(conn):
            name = f"created_after_{migration.version:04d}"
            await create_project(conn, name)
            if not older:
                await write_rows(conn, name, thumbnail)
            older.append((migration.filename, name))
    assert older, "no migration before the newest one creates project schemas"

    await apply_migrations(conn, migrations)
    await create_project(conn, "created_now")
    expected = await project_catalog(conn, "created_now")
    assert expected["relations"], "the current template created no tables"

    for after, name in older:
        found = differences(expected, await project_catalog(conn, name))
        assert not found, (
            f"a project created after {after} and upgraded by the later migrations differs from "
            "one created by the current template (a migration changed the project tables but "
            f"not both the existing projects and the template; {RULE}):\n" + "\n".join(found)
        )
    first = quoted_schema(older[0][1])
    assert await conn.fetchval(f"SELECT thumbnail_id FROM {first}.folders") == thumbnail


def template_migrations() -> list[Migration]:
    return [m for m in load_migrations(MIGRATIONS_DIR) if _DEFINES_TEMPLATE.search(m.sql)]


def template_text(migration: Migration) -> str:
    """The body of the last public.create_project_schema definition in the migration."""
    *_, definition = _DEFINES_TEMPLATE.finditer(migration.sql)
    body = _BODY.search(migration.sql, definition.end())
    assert body is not None, f"{migration.filename}: no dollar-quoted body after the definition"
    return body[2]


@pytest.fixture
async def fresh_catalog(settings: Settings) -> Catalog:
    """The catalog of a project schema the current template creates, created and rolled back."""
    conn = await asyncpg.connect(settings.postgres_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.fetchval("SELECT public.create_project_schema('template_probe')")
            return await project_catalog(conn, "template_probe")
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def test_the_newest_template_migration_writes_out_every_object_of_a_project(
    fresh_catalog: Catalog,
) -> None:
    newest = template_migrations()[-1]
    text = template_text(newest)
    constraint_indexes = {row[1] for row in fresh_catalog["constraints"]}
    patterns = {
        "CREATE SCHEMA": r"CREATE\s+SCHEMA\b",
        **{
            f"table {table}": rf"CREATE\s+TABLE\s+(?:\S+\.)?{table}\s*\("
            for table, kind, *_ in fresh_catalog["relations"]
            if kind in ("r", "p")
        },
        **{
            f"index {index}": rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+{index}\b"
            for _, index, _ in fresh_catalog["indexes"]
            if index not in constraint_indexes
        },
        **{
            f"trigger {trigger}": rf"CREATE\s+(?:OR\s+REPLACE\s+)?TRIGGER\s+{trigger}\b"
            for _, trigger, *_ in fresh_catalog["triggers"]
        },
    }
    missing = sorted(what for what, pattern in patterns.items() if not re.search(pattern, text))
    assert not missing, (
        f"{newest.filename} is the newest migration defining public.create_project_schema(), "
        "but its text does not write out: " + ", ".join(missing) + ". The newest definition "
        f"holds the full template, every object written out by name ({RULE})"
    )


def test_the_migrations_readme_names_the_newest_template_migration() -> None:
    newest = template_migrations()[-1]
    current = re.search(r"currently\s+\[?`([^`]+)`", README.read_text(encoding="utf-8"))
    assert current is not None, f"{README} does not say which migration holds the template"
    assert current[1] == newest.filename, (
        f"{README} names {current[1]} as the project schema template, but the newest migration "
        f"defining public.create_project_schema() is {newest.filename} ({RULE})"
    )
