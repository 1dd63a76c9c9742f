"""Readiness: can this replica serve requests? (PostgreSQL, Redis, and the schema it needs.)

Each check is bounded by CHECK_TIMEOUT so a hung dependency makes the answer "not ready", never a
hanging probe. Worker health is reported alongside but does not decide readiness: a crashed
worker restarts on its own, and restarting the pod would not help it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ayon_server.api.state import ServerState
from ayon_server.runtime import Runtime
from ayon_server.schema import Migration, schema_state

CHECK_TIMEOUT = 2.0
REQUIRED_CHECKS = ("postgres", "redis", "schema")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, CheckResult]
    workers: dict[str, dict[str, Any]]

    @property
    def ready(self) -> bool:
        return all(self.checks[name].ok for name in REQUIRED_CHECKS)

    def reasons(self) -> list[str]:
        return [f"{name}: {check.detail}" for name, check in self.checks.items() if not check.ok]

    def checks_body(self) -> dict[str, Any]:
        return {
            **{name: check.as_dict() for name, check in self.checks.items()},
            "workers": self.workers,
        }


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT:g} s"
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


async def _check_database(
    runtime: Runtime, migrations: list[Migration]
) -> tuple[CheckResult, CheckResult]:
    """(postgres, schema): the schema can only be judged once PostgreSQL answered."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await runtime.db.fetchval("SELECT 1")
    except Exception as exc:
        return CheckResult(False, describe_failure(exc)), CheckResult(False, "unknown: no database")
    postgres = CheckResult(True, "ok")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with runtime.db.acquire() as conn:
                state = await schema_state(conn, migrations)
    except Exception as exc:
        return postgres, CheckResult(False, describe_failure(exc))
    if not state.current:
        return postgres, CheckResult(False, "; ".join(state.problems()))
    detail = f"current ({len(migrations)} migrations)"
    newer = state.newer_note()
    return postgres, CheckResult(True, f"{detail}; {newer}" if newer else detail)


async def _check_redis(runtime: Runtime) -> CheckResult:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await runtime.redis.ping()
    except Exception as exc:
        return CheckResult(False, describe_failure(exc))
    return CheckResult(True, "ok")


async def check_readiness(state: ServerState) -> Readiness:
    runtime = state.runtime
    if runtime is None:
        starting = CheckResult(False, "server is starting")
        return Readiness(dict.fromkeys(REQUIRED_CHECKS, starting), state.workers.health())
    (postgres, schema), redis = await asyncio.gather(
        _check_database(runtime, state.migrations), _check_redis(runtime)
    )
    return Readiness(
        {"postgres": postgres, "redis": redis, "schema": schema}, state.workers.health()
    )
