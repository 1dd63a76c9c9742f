"""python -m maintenance: run the maintenance procedure once, list its tasks, or schedule it.

Exit codes: 0 every task succeeded (or was skipped), 1 a task failed, the run was
cancelled or interrupted, or the database could not be reached, 2 bad usage or configuration
(e.g. an unknown task), 3 another run holds the lock (nothing done).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Sequence
from typing import Any

import asyncpg

from ayon_server.config import ConfigError, Settings, load_settings
from ayon_server.lib.postgres import CONNECTION_ERRORS, connect_once, redact
from ayon_server.logging_setup import configure_logging
from ayon_server.maintenance.catalog import UnknownTask
from ayon_server.maintenance.config import InvalidMaintenanceConfig, load_config
from ayon_server.maintenance.lock import CONNECT_TIMEOUT, MaintenanceLocked
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner, RunResult
from maintenance.scheduler import run_scheduler_process
from maintenance.tasks import TASKS, select_tasks

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def _fail(message: str, code: int) -> int:
    print(f"maintenance: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m maintenance",
        description="Run the maintenance tasks once (all enabled ones by default).",
    )
    parser.add_argument(
        "--task",
        action="append",
        metavar="NAME",
        help="run just this task, even if disabled (repeatable)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--list", action="store_true", help="print the tasks in order with their enabled state"
    )
    mode.add_argument("--schedule", action="store_true", help="run the scheduler until stopped")
    return parser


def _format_result(result: dict[str, Any]) -> str:
    if "reason" in result and len(result) == 1:
        return str(result["reason"])
    parts = []
    for key, value in result.items():
        parts.append(f"{key}={len(value)}" if isinstance(value, list) else f"{key}={value}")
    return " ".join(parts)


def print_summary(result: RunResult) -> None:
    if result.dry_run:
        print("dry run: nothing was deleted; counts are what a real run would delete")
    for task in result.tasks:
        detail = task.error if task.status == "failed" else _format_result(task.result)
        print(f"{task.name:<18}{task.status:<10}{task.duration_ms / 1000:>7.2f}s  {detail}")
    print(f"{result.description} (event {result.event_id})")


async def _guarded(settings: Settings, work: Awaitable[int]) -> int:
    """Turn an unreachable database or a broken stored configuration into one line."""
    try:
        return await work
    except InvalidMaintenanceConfig as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (*CONNECTION_ERRORS, TimeoutError) as exc:
        reason = str(exc) or exc.__class__.__name__
        return _fail(
            f"cannot reach PostgreSQL at {redact(settings.postgres_url)}: {reason}", EXIT_FAILED
        )
    except asyncpg.PostgresError as exc:
        return _fail(f"database error: {exc.__class__.__name__}: {exc}", EXIT_FAILED)


async def _list(settings: Settings) -> int:
    # Fail fast on a dead database: the pool would wait for its default connect timeout.
    await (await connect_once(settings.postgres_url, timeout=CONNECT_TIMEOUT)).close()
    runtime = Runtime.create(settings)
    try:
        config = await load_config(runtime.db)
    finally:
        await runtime.close()
    for task in TASKS:
        state = "enabled" if config.task_enabled(task.name) else "disabled"
        print(f"{task.name:<18}{state:<10}{task.title}")
    return EXIT_OK


async def _run(settings: Settings, task_names: list[str] | None, dry_run: bool) -> int:
    runtime = Runtime.create(settings)
    stop = asyncio.Event()
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # First signal: stop at the next batch boundary. Second: do not wait for it.
        if stop.is_set() and current is not None:
            current.cancel()
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        result = await MaintenanceRunner(runtime).run(
            task_names, dry_run=dry_run, trigger="cli", stop_event=stop
        )
    except MaintenanceLocked:
        return _fail("another maintenance run is in progress; nothing done", EXIT_LOCKED)
    except asyncio.CancelledError:
        return _fail("cancelled; the run was recorded as interrupted", EXIT_FAILED)
    finally:
        await runtime.close()
    print_summary(result)
    return EXIT_OK if result.status == "finished" else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.schedule and (args.task or args.dry_run):
        return _fail("--schedule cannot be combined with --task or --dry-run", EXIT_USAGE)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    configure_logging(settings)
    if args.schedule:
        return run_scheduler_process(settings)
    if args.list:
        return asyncio.run(_guarded(settings, _list(settings)))
    try:
        task_names = [task.name for task in select_tasks(args.task)] if args.task else None
    except UnknownTask as exc:
        return _fail(str(exc), EXIT_USAGE)
    return asyncio.run(_guarded(settings, _run(settings, task_names, args.dry_run)))


if __name__ == "__main__":
    sys.exit(main())
