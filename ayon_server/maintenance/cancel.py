"""Cancelling the maintenance run in progress, wherever it runs.

The run may be held by any server replica, the standalone scheduler or a CLI run in another pod,
so a cancel is addressed to the run's event rather than to a process. It is written twice:

* into the run's event (`payload.cancelRequest = {"user", "requestedAt"}`): the database is the
  fallback every runner polls, so a cancel survives a Redis outage or a missed message, and the
  event itself shows who asked;
* on the Redis channel CANCEL_CHANNEL, so the holder usually learns it at once.

The runner stops at the running task's next batch boundary either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from redis.exceptions import RedisError

from ayon_server.lib.postgres import Postgres
from ayon_server.maintenance.lock import is_running
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime

log = logging.getLogger(__name__)

# Redis channel (prefixed by the Redis wrapper): {"runId", "user"} of a cancelled run.
CANCEL_CHANNEL = "maintenance.cancel"
CANCEL_KEY = "cancelRequest"
# A run holds the lock a moment before its event exists; a cancel asked for then waits this long.
FIND_RUN_ATTEMPTS = 20
FIND_RUN_INTERVAL = 0.05

_MARK_NEWEST_RUN = f"""
    UPDATE public.events SET
        payload = CASE WHEN payload ? '{CANCEL_KEY}' THEN payload
                  ELSE payload || jsonb_build_object(
                      '{CANCEL_KEY}', jsonb_build_object('user', $2::text, 'requestedAt', now())
                  ) END,
        updated_at = now()
    WHERE id = (
        SELECT id FROM public.events WHERE topic = $1 AND status = 'in_progress'
        ORDER BY created_at DESC LIMIT 1
    ) AND status = 'in_progress'
    RETURNING id, payload->'{CANCEL_KEY}'->>'user' AS user_name
"""


async def request_cancel(runtime: Runtime, user_name: str) -> str | None:
    """Ask the run in progress to stop; its event id, or None when no run is in progress.

    Asking twice is harmless: the first request (and its user) is kept.
    """
    if not await is_running(runtime.db):
        return None
    for _ in range(FIND_RUN_ATTEMPTS):
        row = await runtime.db.fetchrow(_MARK_NEWEST_RUN, MAINTENANCE_TOPIC, user_name)
        if row is not None:
            break
        await asyncio.sleep(FIND_RUN_INTERVAL)
        if not await is_running(runtime.db):
            return None
    else:
        return None  # the lock is held by something that writes no run (nothing to cancel)
    run_id: str = row["id"].hex
    message = json.dumps({"runId": run_id, "user": row["user_name"]})
    try:
        await runtime.redis.publish(CANCEL_CHANNEL, message)
    except (RedisError, OSError) as exc:
        log.warning("could not announce the cancel on Redis (the runner polls the event): %s", exc)
    log.info("maintenance run %s: cancel requested by %s", run_id, user_name)
    return run_id


async def cancel_requested_by(db: Postgres, run_id: str) -> str | None:
    """Who asked to cancel this run, from its event; None while nobody did."""
    return await db.fetchval(
        f"SELECT payload->'{CANCEL_KEY}'->>'user' FROM public.events WHERE id = $1",
        uuid.UUID(hex=run_id),
    )


def parse_cancel_message(data: bytes | str) -> tuple[str, str] | None:
    """(run id, user) of a CANCEL_CHANNEL message; None for one of another shape."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    run_id, user = message.get("runId"), message.get("user")
    if isinstance(run_id, str) and isinstance(user, str):
        return run_id, user
    return None
