"""public.sites: upsert a client's site, list, delete, and the retention queries of clean_sites."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ayon_server.lib.postgres import Postgres, rows_affected
from ayon_server.sites.headers import ClientSite, Platform

_COLUMNS = "id, platform, hostname, version, users, last_seen"


class SiteInfo(BaseModel):
    """AYON's SiteInfo (id, platform, hostname, version, users) plus when it was last seen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    platform: Platform
    hostname: str
    version: str
    users: list[str]
    last_seen: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SiteInfo:
        return cls(**dict(row))


async def upsert_site(db: Postgres, site: ClientSite, user_name: str) -> SiteInfo:
    """Record that `user_name` connected from `site` now.

    One statement, so concurrent logins from the same site cannot lose each other's user: the
    conflicting row is locked and the user is appended only when it is not listed yet.
    """
    row = await db.fetchrow(
        f"""
        INSERT INTO public.sites AS s (id, platform, hostname, version, users, last_seen)
        VALUES ($1, $2, $3, $4, ARRAY[$5::text], now())
        ON CONFLICT (id) DO UPDATE SET
            platform = EXCLUDED.platform,
            hostname = EXCLUDED.hostname,
            version = EXCLUDED.version,
            users = CASE WHEN $5 = ANY(s.users) THEN s.users ELSE s.users || $5::text END,
            last_seen = now()
        RETURNING {_COLUMNS}
        """,
        site.id,
        site.platform,
        site.hostname,
        site.version,
        user_name,
    )
    assert row is not None  # an upsert always returns its row
    return SiteInfo.from_row(row)


async def list_sites(
    db: Postgres,
    *,
    platform: str | None = None,
    hostname: str | None = None,
    user_name: str | None = None,
) -> list[SiteInfo]:
    """Sites matching every given filter (None: no filter), most recently seen first."""
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM public.sites
        WHERE ($1::text IS NULL OR platform = $1)
          AND ($2::text IS NULL OR hostname = $2)
          AND ($3::text IS NULL OR users @> ARRAY[$3::text])
        ORDER BY last_seen DESC, id
        """,
        platform,
        hostname,
        user_name,
    )
    return [SiteInfo.from_row(row) for row in rows]


async def delete_site(db: Postgres, site_id: str) -> bool:
    """Delete one site; False when there was none with that id."""
    status = await db.execute("DELETE FROM public.sites WHERE id = $1", site_id)
    return status != "DELETE 0"


async def count_sites_not_seen_since(db: Postgres, cutoff: datetime) -> int:
    return await db.fetchval("SELECT count(*) FROM public.sites WHERE last_seen < $1", cutoff)


async def delete_sites_not_seen_since(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> int:
    """Delete at most `limit` sites last seen before `cutoff`; return how many went.

    A site that connects again while the batch runs keeps its row: the condition is re-checked
    on the row version the DELETE locks.
    """
    status = await conn.execute(
        """
        DELETE FROM public.sites
        WHERE id = ANY(ARRAY(
            SELECT id FROM public.sites WHERE last_seen < $1 ORDER BY last_seen LIMIT $2
        ))
        AND last_seen < $1
        """,
        cutoff,
        limit,
    )
    return rows_affected(status)
