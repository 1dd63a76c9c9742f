"""collect_metrics and clean_sites, run through the real MaintenanceRunner.

Snapshots land in the run's own database; pushes go to a real HTTP server on 127.0.0.1 started by
the test; sessions are real Redis keys; storage is real files.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ayon_server.auth.sessions import SessionStore
from ayon_server.maintenance.config import save_config
from ayon_server.runtime import Runtime
from ayon_server.snapshots import contents
from ayon_server.snapshots.contents import storage_bytes
from maintenance.runner import MaintenanceRunner, TaskOutcome
from tests.helpers.server import free_port
from tests.helpers.users import make_user

pytestmark = pytest.mark.usefixtures("clean_tables")


class PushReceiver:
    """An HTTP server on 127.0.0.1 answering every POST with `status`, keeping the JSON bodies."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the test reads `bodies`, not the access log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/snapshots"


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    receiver = PushReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
async def no_snapshots_or_sites(runtime: Runtime) -> None:
    await runtime.db.execute("TRUNCATE public.metrics, public.sites")


async def run_task(runtime: Runtime, name: str, *, dry_run: bool = False) -> TaskOutcome:
    (outcome,) = (await MaintenanceRunner(runtime).run([name], dry_run=dry_run)).tasks
    return outcome


async def snapshots(runtime: Runtime) -> list[dict[str, Any]]:
    rows = await runtime.db.fetch("SELECT date, data FROM public.metrics ORDER BY date")
    return [dict(row) for row in rows]


async def collect(runtime: Runtime) -> dict[str, Any]:
    """Run collect_metrics and return today's stored snapshot."""
    outcome = await run_task(runtime, "collect_metrics")
    assert outcome.status == "finished", outcome.error
    today = datetime.now(UTC).date()
    return next(row["data"] for row in await snapshots(runtime) if row["date"] == today)


async def test_a_snapshot_counts_what_the_server_holds(runtime: Runtime) -> None:
    before = await collect(runtime)
    await make_user(runtime)
    store = SessionStore(runtime.redis, runtime.settings.session_ttl)
    sessions = [await store.create("someone") for _ in range(3)]
    for _ in range(4):
        await runtime.events.dispatch("test.metrics")
    await runtime.db.execute(
        "INSERT INTO public.sites (id, platform, hostname, version) "
        "VALUES ('counted-site', 'linux', 'h', '1.0.0')"
    )
    try:
        after = await collect(runtime)
    finally:
        for session in sessions:
            await store.delete(session.token)

    assert after["users"] == await runtime.db.fetchval("SELECT count(*) FROM public.users")
    assert after["users"] == before["users"] + 1
    assert after["activeSessions"] == before["activeSessions"] + 3
    # ...plus the second run's own event.
    assert after["events"] == before["events"] + 4 + 1
    assert after["sites"] == before["sites"] + 1 == 1
    assert after["logs"] == await runtime.db.fetchval("SELECT count(*) FROM public.logs")
    assert after["databaseBytes"] > 0
    assert {"public.events", "public.logs", "public.metrics"} <= set(after["tables"])
    assert after["tables"]["public.logs"]["bytes"] > 0  # summed over its partitions


async def test_projects_are_counted_from_public_projects(runtime: Runtime) -> None:
    name = f"metrics_{secrets.token_hex(4)}"
    before = (await collect(runtime))["projects"]
    await runtime.db.execute(
        "INSERT INTO public.projects (name, code) VALUES ($1, $1)", name
    )  # a bare row is enough: the snapshot counts rows, it does not open project schemas
    try:
        assert (await collect(runtime))["projects"] == before + 1
    finally:
        await runtime.db.execute("DELETE FROM public.projects WHERE name = $1", name)


async def test_every_public_table_and_only_the_largest_project_tables_are_sized(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = f"project_metricstest_{secrets.token_hex(4)}"
    await runtime.db.execute(f"CREATE SCHEMA {schema}")
    for table in ("small", "medium", "large"):
        await runtime.db.execute(f"CREATE TABLE {schema}.{table} (value TEXT)")
    await runtime.db.execute(
        f"INSERT INTO {schema}.large SELECT repeat('x', 1000) FROM generate_series(1, 500)"
    )
    monkeypatch.setattr(contents, "LARGEST_PROJECT_TABLES", 2)
    try:
        tables = (await collect(runtime))["tables"]
    finally:
        await runtime.db.execute(f"DROP SCHEMA {schema} CASCADE")

    public = await runtime.db.fetch(
        "SELECT 'public.' || relname AS name FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE nspname = 'public' AND relkind IN ('r', 'p') AND NOT relispartition"
    )
    assert {row["name"] for row in public} <= set(tables)
    assert len([name for name in tables if name.startswith("project_")]) == 2
    assert f"{schema}.small" not in tables


async def test_storage_usage_is_the_bytes_of_the_files_under_the_storage_dir(
    runtime: Runtime,
) -> None:
    root = Path(runtime.settings.storage_dir)
    folder = root / f"metrics-test-{secrets.token_hex(4)}"
    before = await collect(runtime)
    (folder / "nested").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"x" * 1000)
    (folder / "nested" / "b.bin").write_bytes(b"y" * 234)
    try:
        after = await collect(runtime)
    finally:
        for path in (folder / "nested" / "b.bin", folder / "a.bin"):
            path.unlink()
        (folder / "nested").rmdir()
        folder.rmdir()

    assert after["storageBytes"] - before["storageBytes"] == 1234


def test_storage_walk_skips_symlinks_and_a_missing_dir_is_zero(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"z" * 5000)
    root = tmp_path / "storage"
    (root / "deep" / "deeper").mkdir(parents=True)
    (root / "deep" / "deeper" / "file.bin").write_bytes(b"a" * 10)
    (root / "top.bin").write_bytes(b"b" * 5)
    os.symlink(outside, root / "linked-dir")
    os.symlink(outside / "big.bin", root / "linked-file")

    assert storage_bytes(root) == 15
    assert storage_bytes(tmp_path / "never-created") == 0


async def test_a_second_collection_on_the_same_day_replaces_that_days_snapshot(
    runtime: Runtime,
) -> None:
    await collect(runtime)
    await runtime.db.execute(
        "INSERT INTO public.sites (id, platform, hostname, version) "
        "VALUES ('late-site', 'darwin', 'h', '1.0.0')"
    )

    data = await collect(runtime)

    assert len(await snapshots(runtime)) == 1
    assert data["sites"] == 1


async def test_snapshots_older_than_the_retention_are_deleted_in_batches(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"metricsRetentionDays": 30, "batchSize": 2})
    today = datetime.now(UTC).date()
    for age in (1, 29, 30, 31, 32, 100, 400):
        await runtime.db.execute(
            "INSERT INTO public.metrics (date, data) VALUES ($1, '{}')", today - timedelta(age)
        )

    dry = await run_task(runtime, "collect_metrics", dry_run=True)
    assert dry.result["deleted"] == 4
    assert len(await snapshots(runtime)) == 7

    real = await run_task(runtime, "collect_metrics")

    assert real.result["deleted"] == 4
    assert [(today - row["date"]).days for row in await snapshots(runtime)] == [30, 29, 1, 0]


async def test_the_snapshot_is_pushed_as_json_to_the_configured_url(
    runtime: Runtime, push_receiver: PushReceiver
) -> None:
    await save_config(runtime, {"metricsPushUrl": push_receiver.url})

    outcome = await run_task(runtime, "collect_metrics")

    assert outcome.status == "finished"
    assert outcome.result["pushed"] is True and "pushError" not in outcome.result
    (row,) = await snapshots(runtime)
    assert push_receiver.bodies == [{"date": row["date"].isoformat(), "metrics": row["data"]}]


async def test_an_unreachable_push_url_is_reported_and_the_task_still_finishes(
    runtime: Runtime,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    await save_config(runtime, {"metricsPushUrl": url})

    outcome = await run_task(runtime, "collect_metrics")

    assert outcome.status == "finished"
    assert outcome.result["pushed"] is False
    assert url in outcome.result["pushError"] and "ConnectError" in outcome.result["pushError"]
    assert len(await snapshots(runtime)) == 1


async def test_a_push_answered_with_an_error_status_is_reported_not_fatal(
    runtime: Runtime, push_receiver: PushReceiver
) -> None:
    push_receiver.status = 503
    await save_config(runtime, {"metricsPushUrl": push_receiver.url})

    outcome = await run_task(runtime, "collect_metrics")

    assert outcome.status == "finished"
    assert outcome.result["pushed"] is False
    error = outcome.result["pushError"]
    assert error == f"POST {push_receiver.url} answered 503 Service Unavailable"
    assert len(push_receiver.bodies) == 1


async def test_a_dry_run_collects_but_neither_stores_nor_pushes(
    runtime: Runtime, push_receiver: PushReceiver
) -> None:
    await save_config(runtime, {"metricsPushUrl": push_receiver.url})

    outcome = await run_task(runtime, "collect_metrics", dry_run=True)

    assert outcome.status == "finished"
    assert "pushed" not in outcome.result
    assert await snapshots(runtime) == []
    assert push_receiver.bodies == []


async def add_site(runtime: Runtime, site_id: str, age: timedelta) -> None:
    await runtime.db.execute(
        "INSERT INTO public.sites (id, platform, hostname, version, users, last_seen) "
        "VALUES ($1, 'windows', $1, '1.0.0', ARRAY['someone'], now() - $2::interval)",
        site_id,
        age,
    )


async def site_ids(runtime: Runtime) -> set[str]:
    return {row["id"] for row in await runtime.db.fetch("SELECT id FROM public.sites")}


@pytest.fixture
async def sites_around_the_default_retention(runtime: Runtime) -> None:
    """Sites just inside and just outside 180 days, and a few long gone."""
    minute = timedelta(minutes=1)
    await add_site(runtime, "seen-today", timedelta(hours=1))
    await add_site(runtime, "just-inside", timedelta(days=180) - minute)
    await add_site(runtime, "just-outside", timedelta(days=180) + minute)
    for index in range(3):
        await add_site(runtime, f"long-gone-{index}", timedelta(days=400 + index))


@pytest.mark.usefixtures("sites_around_the_default_retention")
async def test_clean_sites_deletes_sites_not_seen_for_the_retention_in_batches(
    runtime: Runtime,
) -> None:
    await save_config(runtime, {"batchSize": 2})

    outcome = await run_task(runtime, "clean_sites")

    assert outcome.status == "finished"
    assert outcome.result["deleted"] == 4
    assert "none stored yet" in outcome.result["siteSpecificData"]
    assert await site_ids(runtime) == {"seen-today", "just-inside"}


@pytest.mark.usefixtures("sites_around_the_default_retention")
async def test_clean_sites_dry_run_counts_and_deletes_nothing(runtime: Runtime) -> None:
    outcome = await run_task(runtime, "clean_sites", dry_run=True)

    assert outcome.result["deleted"] == 4
    assert len(await site_ids(runtime)) == 6


async def test_clean_sites_follows_the_configured_retention(runtime: Runtime) -> None:
    await save_config(runtime, {"siteRetentionDays": 7})
    await add_site(runtime, "six-days", timedelta(days=6))
    await add_site(runtime, "eight-days", timedelta(days=8))

    outcome = await run_task(runtime, "clean_sites")

    assert outcome.result["deleted"] == 1
    assert await site_ids(runtime) == {"six-days"}
