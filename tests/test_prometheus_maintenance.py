"""Maintenance in /metrics: counters of the runs each replica saw end, timestamps by status, and
the example alert rules of deploy/prometheus, whose metrics must all exist."""

from __future__ import annotations

import httpx
import promql_parser
import pytest
import yaml

from ayon_server.config import Settings
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from tests.helpers.maintenance import add_old_logs
from tests.helpers.prometheus import names, scrape, value
from tests.helpers.server import server_app, serving
from tests.helpers.settings import REPO_ROOT

pytestmark = pytest.mark.usefixtures("clean_tables")

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "maintenance-alerts.yaml"


async def test_runs_that_end_are_counted_once_by_task_and_status(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await scrape(client)  # this replica counts the runs that end from now on
    await add_old_logs(runtime.db, 7)

    first = await MaintenanceRunner(runtime).run(["clean_logs", "clean_events"])
    await MaintenanceRunner(runtime).run(["clean_logs"], dry_run=True)
    await add_old_logs(runtime.db, 2)
    text = await scrape(client)
    await MaintenanceRunner(runtime).run(["clean_logs"])
    again = await scrape(client)

    assert value(text, "ayon_maintenance_runs_total", status="finished") == 1
    assert value(text, "ayon_maintenance_runs_total", status="aborted") == 0
    assert value(text, "ayon_maintenance_rows_removed_total", task="clean_logs") == 7
    assert value(text, "ayon_maintenance_rows_removed_total", task="vacuum_db") == 0
    count = "ayon_maintenance_task_run_duration_seconds_count"
    assert value(text, count, task="clean_logs") == 1
    assert value(text, count, task="clean_events") == 1
    logs_ms = next(t.duration_ms for t in first.tasks if t.name == "clean_logs")
    total = value(text, "ayon_maintenance_task_run_duration_seconds_sum", task="clean_logs")
    assert total == pytest.approx(logs_ms / 1000)
    # The dry run is not counted; the next real run adds to the counts, the first stays counted.
    assert value(again, "ayon_maintenance_runs_total", status="finished") == 2
    assert value(again, "ayon_maintenance_rows_removed_total", task="clean_logs") == 9
    assert value(again, count, task="clean_logs") == 2

    # Another replica reports the same timestamps; it counts only the runs that end after it.
    async with serving(server_app(settings)) as other:
        other_text = await scrape(other)
    stamp = "ayon_maintenance_last_run_end_timestamp_seconds"
    assert value(other_text, stamp, status="finished") == value(again, stamp, status="finished")
    assert value(other_text, "ayon_maintenance_runs_total", status="finished") == 0


async def test_the_last_end_of_each_status_ignores_dry_runs(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    real = await MaintenanceRunner(runtime).run(["clean_events"])
    await MaintenanceRunner(runtime).run(["clean_events"], dry_run=True)
    failed_id = await runtime.events.dispatch(
        MAINTENANCE_TOPIC, status="failed", summary={"dryRun": False, "tasks": []}
    )

    text = await scrape(client)

    ended = (await runtime.events.get(real.event_id)).updated_at
    failed = (await runtime.events.get(failed_id)).updated_at
    stamp = "ayon_maintenance_last_run_end_timestamp_seconds"
    assert value(text, stamp, status="finished") == pytest.approx(ended.timestamp())
    assert value(text, stamp, status="failed") == pytest.approx(failed.timestamp())
    assert value(text, stamp, status="aborted") is None


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_example_alert_rules_are_valid_prometheus_rules() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert isinstance(group["name"], str) and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert rule["alert"].isidentifier()
            promql_parser.parse(rule["expr"])  # ValueError on a syntax error
            promql_parser.parse_duration(rule["for"])
    assert "AyonMaintenanceNotFinished" in {rule["alert"] for rule in alert_rules()}


async def test_every_metric_the_alert_rules_use_is_exported(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await save_config(runtime, {"tasks": {"vacuum_db": {"enabled": False}}})
    await MaintenanceRunner(runtime).run(["clean_events"])
    exported = names(await scrape(client))

    used: set[str] = set()
    for rule in alert_rules():

        def collect(node: promql_parser.Expr) -> bool:
            if isinstance(node, promql_parser.VectorSelector):
                used.add(node.name)
            return True

        promql_parser.walk(promql_parser.parse(rule["expr"]), collect)

    assert "ayon_maintenance_last_run_end_timestamp_seconds" in used
    assert used <= exported


async def test_a_run_in_progress_counts_nothing_until_it_ends(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await scrape(client)
    in_progress = await runtime.events.dispatch(
        MAINTENANCE_TOPIC, status="in_progress", summary={"dryRun": False, "tasks": []}
    )
    text = await scrape(client)
    assert value(text, "ayon_maintenance_runs_total", status="finished") == 0
    await runtime.events.update(in_progress, status="aborted")

    text = await scrape(client)

    assert value(text, "ayon_maintenance_runs_total", status="aborted") == 1
