"""The launcher action lifecycle, tracked in one `action.launcher` event.

1. execute: an event is dispatched `pending`; its hash is a fresh 64-hex token that the browser
   passes to the AYON launcher in an `ayon-launcher://action?server_url=…&token=…` URI.
2. take: the launcher trades the token (no login) for what to run; the event becomes
   `in_progress`. Exactly one take wins, so a token starts at most one process.
3. the launcher reports `finished`/`failed` through PATCH /api/events/{id}, or aborts.
4. a token nobody took within the action timeout is failed by the action invalidator. Unlike
   AYON, which deletes such events, we keep them so the user can see what happened.

Every status change goes through EventStream.update with a status precondition, so it is atomic
under concurrent callers and replicas, and published once, by whoever made it.

There are no addons in this server, so nothing defines actions: every executed action is treated
as a launcher action with no arguments, which is what AYON does for the launcher-type actions of
its applications addon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote_plus

from ayon_server.actions.context import ActionContext
from ayon_server.auth.tokens import new_token
from ayon_server.exceptions import NotFoundException
from ayon_server.runtime import Runtime

LAUNCHER_TOPIC = "action.launcher"
DEFAULT_ABORT_MESSAGE = "Action aborted by user"
INVALID_TOKEN = "Invalid token"
TAKEABLE = ("pending",)
ABORTABLE = ("pending", "in_progress")
# Events one invalidation query looks at; the pass repeats until none are left.
INVALIDATE_BATCH = 200


@dataclass(frozen=True)
class LauncherAction:
    """Which action a user asked to run, and where."""

    addon_name: str
    addon_version: str
    identifier: str
    variant: str
    context: ActionContext
    user_name: str
    sender: str | None = None
    sender_type: str | None = None


@dataclass(frozen=True)
class TakenAction:
    """What the launcher needs to run an action (AYON's take response)."""

    event_id: str
    action_identifier: str
    args: list[str]
    context: dict[str, Any]
    addon_name: str
    addon_version: str
    variant: str
    user_name: str


def launcher_uri(server_url: str, token: str) -> str:
    return f"ayon-launcher://action?server_url={quote_plus(server_url)}&token={token}"


async def dispatch_launcher_action(
    runtime: Runtime, action: LauncherAction, args: list[str] | None = None
) -> str:
    """Record the action as a pending `action.launcher` event; return its token (the hash)."""
    token = new_token()
    await runtime.events.dispatch(
        LAUNCHER_TOPIC,
        hash=token,
        status="pending",
        sender=action.sender,
        sender_type=action.sender_type,
        user=action.user_name,
        project=action.context.project_name,
        description=f"Running action {action.identifier}",
        summary={
            "addon_name": action.addon_name,
            "addon_version": action.addon_version,
            "variant": action.variant,
            "action_identifier": action.identifier,
        },
        payload={"args": args or [], "context": action.context.payload()},
    )
    return token


async def take_launcher_action(runtime: Runtime, token: str, timeout: float) -> TakenAction:
    """Move the pending action of this token to `in_progress`; 404 unless this call did it.

    A token older than the timeout is refused even before the invalidator has failed it.
    """
    event_id = await runtime.db.fetchval(
        """
        SELECT id FROM public.events
        WHERE hash = $1 AND topic = $2 AND status = 'pending' AND created_at > now() - $3::interval
        """,
        token,
        LAUNCHER_TOPIC,
        timedelta(seconds=timeout),
    )
    if event_id is None:
        raise NotFoundException(INVALID_TOKEN)
    event = await runtime.events.update(event_id, status="in_progress", only_if_status=TAKEABLE)
    if event is None:  # another take (or an abort) got there first
        raise NotFoundException(INVALID_TOKEN)
    # Events of this topic can also come from POST /api/events: take what has the right shape.
    args, context = event.payload.get("args"), event.payload.get("context")
    summary = {key: str(value) for key, value in event.summary.items() if value is not None}
    return TakenAction(
        event_id=event.id,
        action_identifier=summary.get("action_identifier", ""),
        args=[str(arg) for arg in args] if isinstance(args, list) else [],
        context=context if isinstance(context, dict) else {},
        addon_name=summary.get("addon_name", ""),
        addon_version=summary.get("addon_version", ""),
        variant=summary.get("variant", ""),
        user_name=event.user or "",
    )


async def abort_launcher_action(
    runtime: Runtime, token: str, message: str = DEFAULT_ABORT_MESSAGE
) -> None:
    """A pending or running action becomes `aborted` with the message; 404 otherwise."""
    event_id = await runtime.db.fetchval(
        "SELECT id FROM public.events WHERE hash = $1 AND topic = $2", token, LAUNCHER_TOPIC
    )
    if event_id is None:
        raise NotFoundException(INVALID_TOKEN)
    event = await runtime.events.update(
        event_id, status="aborted", description=message, only_if_status=ABORTABLE
    )
    if event is None:
        raise NotFoundException(INVALID_TOKEN)


def timeout_description(timeout: float) -> str:
    if timeout % 60 == 0:
        minutes = int(timeout // 60)
        span = f"{minutes} minute{'s' if minutes != 1 else ''}"
    else:
        span = f"{timeout:g} seconds"
    return f"Timed out: the launcher did not take this action within {span}"


async def fail_timed_out_actions(
    runtime: Runtime, timeout: float, *, batch_size: int = INVALIDATE_BATCH
) -> int:
    """Fail every launcher action still pending after `timeout` seconds; return how many.

    Safe to run on every replica at once: each event changes through a conditional UPDATE
    (status still 'pending'), so exactly one caller fails it and publishes the change.
    """
    description = timeout_description(timeout)
    failed = 0
    while True:
        rows = await runtime.db.fetch(
            """
            SELECT id FROM public.events
            WHERE topic = $1 AND status = 'pending' AND created_at < now() - $2::interval
            ORDER BY created_at
            LIMIT $3
            """,
            LAUNCHER_TOPIC,
            timedelta(seconds=timeout),
            batch_size,
        )
        for row in rows:
            event = await runtime.events.update(
                row["id"], status="failed", description=description, only_if_status=TAKEABLE
            )
            if event is not None:
                failed += 1
        # Whatever this batch held is no longer pending (we or another replica changed it),
        # so the next query moves on; a short batch means nothing old is left.
        if len(rows) < batch_size:
            return failed
