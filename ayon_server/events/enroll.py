"""Enroll: hand a worker the next job, AYON's way (POST /api/enroll).

A job is a *target* event (topic = target topic, dependsOn = a *source* event). Source events are
finished events of the source topic(s), updated within `ignore_older_than` days, not sent by an
ignored sender type, matching the filter, oldest first. For the first one that is actionable:

* no target yet: create it `pending` with hash sha256(json([target, source id])), so the same
  job can never exist twice, whoever races to create it;
* target `failed` (retries < max_retries) or `restarted`: set it `pending` again (a failed one
  with retries + 1), owned by the caller;
* target `pending`/`in_progress` of the same sender: hand it back as it is (the worker lost it);
* anything else (finished, aborted, out of retries, another sender's): not this one.

Concurrency: each attempt runs in one transaction that locks the candidate source row with
`FOR NO KEY UPDATE SKIP LOCKED`, so concurrent workers spread over different sources instead of
queueing on the same one, and every write is conditional (ON CONFLICT DO NOTHING on the hash,
restarts only from the status that was read), so two workers never get the same job.
The row lock is brief (one short transaction), but it is on the source event: a service
enrolling another target topic from the same source at that very moment skips the source and
gets it on its next poll. Sequential enrolls also take a transaction-scoped advisory lock on the
target topic and hand nothing out while any job of that topic is pending or in progress (except
that job, to its own sender). A lock wait longer than LOCK_TIMEOUT_MS is a ServiceUnavailable
(503, which clients retry). Source events of the target topic itself are never candidates: a
source pattern that matches the target topic would otherwise make every finished job a new
source, forever.

Unlike AYON, `max_retries` means what it says (a job runs at most 1 + max_retries times; AYON
restarts until retries > max_retries) and an `aborted` job is final, not handed out again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ayon_server.events.filter import QueryFilter, build_filter
from ayon_server.events.naming import topic_like_pattern
from ayon_server.events.stream import EventConflict, EventModel, EventStream
from ayon_server.exceptions import ServiceUnavailableException
from ayon_server.lib.postgres import Postgres

log = logging.getLogger(__name__)

# How long a sequential enroll waits for another one of the same target topic.
LOCK_TIMEOUT_MS = 2000
# Races lost in a row before giving up with a 503 (each lost race is a job someone else got).
MAX_ATTEMPTS = 50
RESTART_DESCRIPTION = "Restarting failed event"


class EnrollResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    depends_on: str
    hash: str
    status: str = "pending"


@dataclass
class EnrollRequest:
    source_topics: Sequence[str]  # `*` is a wildcard
    target_topic: str
    sender: str
    user_name: str
    sender_type: str | None = None
    description: str | None = None
    sequential: bool = False
    filter: QueryFilter | None = None
    max_retries: int = 3
    ignore_older_than: int | None = 3  # days; None or 0: no limit
    ignore_sender_types: Sequence[str] = field(default_factory=tuple)
    debug: bool = False


def job_hash(target_topic: str, source_id: uuid.UUID) -> str:
    """AYON's hash_data((target, source id)): the same job always gets the same hash."""
    return hashlib.sha256(
        json.dumps([target_topic, str(source_id)], separators=(",", ":")).encode()
    ).hexdigest()


class _LostRace(Exception):
    """Someone else changed this job between our read and our write."""


# What one attempt did: (job, whether it changed), the source whose job we lost, or nothing.
_Outcome = tuple[EventModel, bool] | uuid.UUID | None


class Enroller:
    def __init__(self, db: Postgres, events: EventStream, request: EnrollRequest):
        self.db = db
        self.events = events
        self.request = request

    def _debug(self, message: str, *args: Any) -> None:
        if self.request.debug:
            request = self.request
            log.info("enroll %s/%s: " + message, request.sender, request.target_topic, *args)

    async def run(self) -> EnrollResponse | None:
        lost: list[uuid.UUID] = []
        for _ in range(MAX_ATTEMPTS):
            async with self.db.transaction() as conn:
                if self.request.sequential:
                    result = await self._sequential(conn)
                else:
                    result = await self._next(conn, lost)
            if isinstance(result, uuid.UUID):
                if self.request.sequential:
                    return None  # AYON: a sequential enroll that loses a race gets nothing
                lost.append(result)
                continue
            if result is None:
                return None
            job, changed = result
            if changed:
                await self.events.publish(job)
            return EnrollResponse(
                id=job.id, depends_on=job.depends_on or "", hash=job.hash, status=job.status
            )
        raise ServiceUnavailableException("Too many workers are enrolling at once, retry later")

    async def _sequential(self, conn: asyncpg.Connection) -> _Outcome:
        target_topic = self.request.target_topic
        await conn.execute("SELECT set_config('lock_timeout', $1, true)", f"{LOCK_TIMEOUT_MS}ms")
        try:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"ayon.enroll:{target_topic}"
            )
        except asyncpg.LockNotAvailableError:
            raise ServiceUnavailableException(
                f"Another enroll for {target_topic} is running, retry later"
            ) from None
        await conn.execute("SELECT set_config('lock_timeout', '0', true)")
        active = await conn.fetchrow(
            """
            SELECT id, sender FROM public.events
            WHERE topic = $1 AND depends_on IS NOT NULL AND status IN ('pending', 'in_progress')
            ORDER BY created_at, id LIMIT 1
            """,
            target_topic,
        )
        if active is None:
            # Nothing runs, so the candidates are new or restartable jobs only, oldest first.
            return await self._next(conn, [], lock_rows=False)
        if active["sender"] != self.request.sender:
            self._debug("job %s of %s is running: nothing", active["id"].hex, active["sender"])
            return None
        job = await self.events.get(active["id"], db=conn)
        self._debug("handing back own running job %s", active["id"].hex)
        return (job, False) if job else None

    async def _next(
        self, conn: asyncpg.Connection, lost: list[uuid.UUID], *, lock_rows: bool = True
    ) -> _Outcome:
        """The job of the oldest actionable source, or None when there is none. A source id
        means another worker got that job between our read and our write."""
        row = await self._candidate(conn, lost, lock_rows=lock_rows)
        if row is None:
            self._debug("no candidate")
            return None
        try:
            return await self._take(conn, row)
        except _LostRace:
            self._debug("lost the race for source %s", row["source_id"].hex)
            return row["source_id"]

    async def _candidate(
        self, conn: asyncpg.Connection, lost: list[uuid.UUID], *, lock_rows: bool
    ) -> asyncpg.Record | None:
        request = self.request
        args: list[Any] = [
            [topic_like_pattern(topic) for topic in request.source_topics],
            request.target_topic,
            request.max_retries,
            request.sender,
            list(request.ignore_sender_types),
            lost,
        ]
        window = ""
        if request.ignore_older_than:
            args.append(request.ignore_older_than)
            window = f"AND src.updated_at >= now() - make_interval(days => ${len(args)})"
        source_filter = build_filter(request.filter, "src", args)
        lock = "FOR NO KEY UPDATE OF src SKIP LOCKED" if lock_rows else ""
        # The lateral lookup probes the (depends_on, topic) index once per source in the window,
        # and sees a final job (finished, aborted, out of retries) first if there is one.
        return await conn.fetchrow(
            f"""
            SELECT src.id AS source_id, tgt.id AS target_id, tgt.status AS target_status,
                   tgt.retries AS target_retries
            FROM public.events AS src
            LEFT JOIN LATERAL (
                SELECT job.id, job.status, job.retries, job.sender
                FROM public.events AS job
                WHERE job.depends_on = src.id AND job.topic = $2
                ORDER BY (job.status IN ('finished', 'aborted')
                          OR (job.status = 'failed' AND job.retries >= $3)) DESC
                LIMIT 1
            ) AS tgt ON TRUE
            WHERE src.topic LIKE ANY($1::text[])
              AND src.topic <> $2  -- a job is never its own source: that would loop forever
              AND src.status = 'finished'
              {window}
              AND COALESCE(src.sender_type <> ALL($5::text[]), TRUE)
              AND src.id <> ALL($6::uuid[])
              AND {source_filter}
              AND (
                  tgt.id IS NULL
                  OR (tgt.status = 'failed' AND tgt.retries < $3)
                  OR tgt.status = 'restarted'
                  OR (tgt.status IN ('pending', 'in_progress')
                      AND tgt.sender IS NOT DISTINCT FROM $4)
              )
            ORDER BY src.created_at, src.id
            LIMIT 1
            {lock}
            """,
            *args,
        )

    async def _take(self, conn: asyncpg.Connection, row: asyncpg.Record) -> tuple[EventModel, bool]:
        request = self.request
        source_id: uuid.UUID = row["source_id"]
        status = row["target_status"]
        if status is None:
            description = request.description or (
                f"Convert from {', '.join(request.source_topics)} to {request.target_topic}"
            )
            try:
                job = await self.events.insert_row(
                    conn,
                    request.target_topic,
                    sender=request.sender,
                    sender_type=request.sender_type,
                    hash=job_hash(request.target_topic, source_id),
                    user=request.user_name,
                    depends_on=source_id,
                    description=description,
                    status="pending",
                    skip_conflict=True,
                )
            except EventConflict:
                raise _LostRace from None
            self._debug("created job %s for source %s", job.id, source_id.hex)
            return job, True
        if status in ("failed", "restarted"):
            restarted = await self.events.update_row(
                conn,
                row["target_id"],
                status="pending",
                retries=row["target_retries"] + (1 if status == "failed" else 0),
                sender=request.sender,
                sender_type=request.sender_type,
                user=request.user_name,
                description=RESTART_DESCRIPTION,
                only_if_status=(status,),
            )
            if restarted is None:
                raise _LostRace
            self._debug("restarted %s job %s", status, restarted.id)
            return restarted, True
        job = await self.events.get(row["target_id"], db=conn)
        if job is None:
            raise _LostRace
        self._debug("handing back own %s job %s", status, job.id)
        return job, False


async def enroll_job(
    db: Postgres, events: EventStream, request: EnrollRequest
) -> EnrollResponse | None:
    """The job for this worker, or None when there is nothing to do."""
    return await Enroller(db, events, request).run()
