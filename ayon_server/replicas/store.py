"""public.replicas and public.replica_packages: the heartbeat, the per-replica install status,
the listing GET /api/system/replicas shows, and the retention queries of clean_replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from ayon_server.lib.postgres import Postgres
from ayon_server.replicas.identity import ReplicaIdentity

Executor = Postgres | asyncpg.Connection
PackageKind = Literal["addon", "dependencyPackage", "installer"]
PackageStatus = Literal["installed", "pending", "failed"]
# A replica seen within this long is live (it heartbeats every 30 s by default).
LIVE_WITHIN = timedelta(minutes=2)
# An error text kept in a status row is cut to this many characters.
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class PackageStatusRow:
    kind: PackageKind
    name: str
    version: str
    status: PackageStatus
    sha256: str | None
    error: str | None
    attempts: int


@dataclass(frozen=True)
class ReplicaRow:
    id: str
    hostname: str
    version: str
    started_at: datetime
    last_seen: datetime
    live: bool
    packages: list[PackageStatusRow]


async def heartbeat(db: Executor, replica: ReplicaIdentity) -> None:
    """Create or refresh this replica's row (last_seen from the database clock)."""
    await db.execute(
        """
        INSERT INTO public.replicas (id, hostname, version) VALUES ($1, $2, $3)
        ON CONFLICT (id) DO UPDATE SET
            hostname = EXCLUDED.hostname, version = EXCLUDED.version, last_seen = now()
        """,
        replica.id,
        replica.hostname,
        replica.version,
    )


async def list_replicas(db: Postgres) -> list[ReplicaRow]:
    """Every known replica, live ones first, each with its install status rows."""
    rows = await db.fetch(
        """
        SELECT id, hostname, version, started_at, last_seen,
               last_seen >= now() - $1::interval AS live
        FROM public.replicas
        ORDER BY live DESC, last_seen DESC, id
        """,
        LIVE_WITHIN,
    )
    packages = await db.fetch(
        """
        SELECT replica_id, kind, name, version, status, sha256, error, attempts
        FROM public.replica_packages
        ORDER BY replica_id, kind, name, version
        """
    )
    by_replica: dict[str, list[PackageStatusRow]] = {}
    for row in packages:
        by_replica.setdefault(row["replica_id"], []).append(_package(row))
    return [
        ReplicaRow(
            id=row["id"],
            hostname=row["hostname"],
            version=row["version"],
            started_at=row["started_at"],
            last_seen=row["last_seen"],
            live=row["live"],
            packages=by_replica.get(row["id"], []),
        )
        for row in rows
    ]


def _package(row: asyncpg.Record) -> PackageStatusRow:
    return PackageStatusRow(
        kind=row["kind"],
        name=row["name"],
        version=row["version"],
        status=row["status"],
        sha256=row["sha256"],
        error=row["error"],
        attempts=row["attempts"],
    )


async def package_statuses(db: Executor, replica_id: str) -> list[PackageStatusRow]:
    rows = await db.fetch(
        """
        SELECT kind, name, version, status, sha256, error, attempts
        FROM public.replica_packages WHERE replica_id = $1
        """,
        replica_id,
    )
    return [_package(row) for row in rows]


async def set_package_status(
    db: Executor,
    replica_id: str,
    kind: PackageKind,
    name: str,
    version: str,
    status: PackageStatus,
    *,
    sha256: str | None,
    error: str | None = None,
    attempts: int = 0,
) -> None:
    """Record what this replica has of one package; the replica's row must exist."""
    await db.execute(
        """
        INSERT INTO public.replica_packages
            (replica_id, kind, name, version, status, sha256, error, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (replica_id, kind, name, version) DO UPDATE SET
            status = EXCLUDED.status, sha256 = EXCLUDED.sha256, error = EXCLUDED.error,
            attempts = EXCLUDED.attempts, updated_at = now()
        """,
        replica_id,
        kind,
        name,
        version,
        status,
        sha256,
        error[:MAX_ERROR_LENGTH] if error else None,
        attempts,
    )


async def delete_package_status(
    db: Executor, replica_id: str, kind: PackageKind, name: str, version: str
) -> None:
    await db.execute(
        """
        DELETE FROM public.replica_packages
        WHERE replica_id = $1 AND kind = $2 AND name = $3 AND version = $4
        """,
        replica_id,
        kind,
        name,
        version,
    )


async def replicas_with_installed(
    db: Executor, kind: PackageKind, name: str, version: str, sha256: str
) -> list[str]:
    """The ids of the replicas that have installed exactly this archive."""
    rows = await db.fetch(
        """
        SELECT replica_id FROM public.replica_packages
        WHERE kind = $1 AND name = $2 AND version = $3 AND sha256 = $4 AND status = 'installed'
        ORDER BY replica_id
        """,
        kind,
        name,
        version,
        sha256,
    )
    return [row["replica_id"] for row in rows]


async def count_replicas_not_seen_since(db: Postgres, cutoff: datetime) -> tuple[int, int]:
    """(replicas, their status rows) last seen before `cutoff`."""
    row = await db.fetchrow(
        """
        SELECT count(*) AS replicas,
               (SELECT count(*) FROM public.replica_packages p
                JOIN public.replicas r ON r.id = p.replica_id WHERE r.last_seen < $1) AS packages
        FROM public.replicas WHERE last_seen < $1
        """,
        cutoff,
    )
    return row["replicas"], row["packages"]


async def delete_replicas_not_seen_since(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> tuple[int, int]:
    """Delete at most `limit` replicas last seen before `cutoff` with their status rows; return
    (replicas, status rows) deleted.

    The rows are locked first and the condition re-checked on the locked version, so a replica
    whose heartbeat lands during the batch keeps its row and its status.
    """
    row = await conn.fetchrow(
        """
        WITH doomed AS (
            SELECT id FROM public.replicas WHERE last_seen < $1
            ORDER BY last_seen LIMIT $2 FOR UPDATE
        ),
        gone_packages AS (
            DELETE FROM public.replica_packages p USING doomed
            WHERE p.replica_id = doomed.id RETURNING 1
        ),
        gone AS (
            DELETE FROM public.replicas r USING doomed WHERE r.id = doomed.id RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) AS replicas,
               (SELECT count(*) FROM gone_packages) AS packages
        """,
        cutoff,
        limit,
    )
    return row["replicas"], row["packages"]
