"""Charts of the maintenance page, rendered on the server as SVG by pygal.

Three charts answer an operator's questions about the procedure over time: which task takes the
time, which task removes the rows, and how the database and its largest tables grow. The SVG is
self-contained and inert: pygal's tooltip script (fetched from the internet) is switched off and
its inline configuration script removed, so a chart is plain SVG markup the page inlines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import pygal
from pygal.etree import etree
from pygal.style import Style

from ayon_server.maintenance.runs import ACTIVE_STATUSES, MaintenanceRun

MIB = 1024 * 1024
LARGEST_TABLES = 5
RUN_AXIS = "run started (UTC)"

_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#24292f",
    foreground_strong="#24292f",
    foreground_subtle="#8c959f",
    opacity=".85",
    opacity_hover="1",
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
    title_font_size=14,
    no_data_font_size=20,
    colors=(
        "#0969da",
        "#1a7f37",
        "#9a6700",
        "#cf222e",
        "#8250df",
        "#bf3989",
        "#0a7ea4",
        "#6e7781",
        "#953800",
        "#116329",
        "#4c2889",
        "#a40e26",
        "#1b7c83",
    ),
)


def _chart(kind: type[pygal.graph.graph.Graph], title: str, x_title: str, y_title: str) -> Any:
    return kind(
        js=(),  # no script from the internet; the chart is plain SVG
        style=_STYLE,
        title=title,
        x_title=x_title,
        y_title=y_title,
        width=900,
        height=340,
        legend_box_size=10,
        x_label_rotation=30,
        truncate_legend=-1,
        show_minor_x_labels=True,
        print_values=False,
        no_data_text="No data yet",
        disable_xml_declaration=True,
        margin_bottom=10,
    )


def _svg(chart: Any) -> str:
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag in ("script", "{http://www.w3.org/2000/svg}script"):
                parent.remove(child)
    return etree.tostring(tree, encoding="unicode")


def _ended_oldest_first(runs: Sequence[MaintenanceRun]) -> list[MaintenanceRun]:
    """Runs as the history gives them (newest first), without the one going on."""
    return [run for run in reversed(runs) if run.status not in ACTIVE_STATUSES]


def _run_label(run: MaintenanceRun) -> str:
    return run.started_at.strftime("%m-%d %H:%M")


def _task_names(runs: Sequence[MaintenanceRun]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        for task in run.tasks:
            if isinstance(task.get("name"), str):
                names[task["name"]] = None
    return list(names)


def _by_task(run: MaintenanceRun) -> dict[str, dict[str, Any]]:
    return {task["name"]: task for task in run.tasks if isinstance(task.get("name"), str)}


def rows_removed(result: object) -> int:
    """The rows a task deleted: its `deleted` count and any `...Deleted` count beside it."""
    if not isinstance(result, dict):
        return 0
    return sum(
        value
        for key, value in result.items()
        if (key == "deleted" or key.endswith("Deleted"))
        and isinstance(value, int)
        and not isinstance(value, bool)
    )


def task_durations_chart(runs: Sequence[MaintenanceRun]) -> str:
    """Seconds each task took, one bar per ended run (oldest left); runs as newest-first input."""
    runs = _ended_oldest_first(runs)
    chart = _chart(pygal.StackedBar, "Task duration per run", RUN_AXIS, "seconds")
    chart.x_labels = [_run_label(run) for run in runs]
    for name in _task_names(runs):
        values = []
        for run in runs:
            task = _by_task(run).get(name)
            duration = task.get("durationMs") if task else None
            values.append(duration / 1000 if isinstance(duration, int | float) else None)
        if any(values):  # a task that was always skipped takes no room
            chart.add(name, values)
    return _svg(chart)


def rows_removed_chart(runs: Sequence[MaintenanceRun]) -> str:
    """Rows each task removed, one bar per ended run (dry runs count what they would remove)."""
    runs = _ended_oldest_first(runs)
    chart = _chart(pygal.StackedBar, "Rows removed per run", RUN_AXIS, "rows")
    chart.x_labels = [_run_label(run) + (" (dry)" if run.dry_run else "") for run in runs]
    for name in _task_names(runs):
        values = [rows_removed((_by_task(run).get(name) or {}).get("result")) for run in runs]
        if any(values):
            chart.add(name, values)
    return _svg(chart)


def _table_bytes(snapshot: dict[str, Any]) -> dict[str, int]:
    tables = snapshot.get("tables")
    if not isinstance(tables, dict):
        return {}
    return {
        name: info["bytes"]
        for name, info in tables.items()
        if isinstance(info, dict) and isinstance(info.get("bytes"), int)
    }


def sizes_chart(snapshots: Iterable[tuple[date, dict[str, Any]]]) -> str:
    """The database size and its largest tables (by the newest snapshot), in MiB per day."""
    snapshots = list(snapshots)
    chart = _chart(pygal.Line, "Database and largest tables", "day (UTC)", "MiB")
    chart.x_labels = [day.isoformat() for day, _ in snapshots]
    if not snapshots:
        return _svg(chart)
    database = [data.get("databaseBytes") for _, data in snapshots]
    chart.add("database", [v / MIB if isinstance(v, int) else None for v in database])
    newest = _table_bytes(snapshots[-1][1])
    for name in sorted(newest, key=lambda n: (-newest[n], n))[:LARGEST_TABLES]:
        values = [_table_bytes(data).get(name) for _, data in snapshots]
        chart.add(name, [v / MIB if v is not None else None for v in values])
    return _svg(chart)
