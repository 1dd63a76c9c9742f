"""The server status page served at `/`: one self-contained HTML document, no external assets.

It answers an operator's first questions at a glance: which version, is this replica ready and if
not why, are the background workers healthy, how did the last maintenance run go and when is the
next one. Every value is escaped; the page refreshes itself every 30 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from ayon_server.events.stream import EventModel

REFRESH_SECONDS = 30
NO_VALUE = "\u2013"  # an en dash in cells without a value

_STYLE = """
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --busy: #9a6700;
  --idle: #6e7781; --line: #d0d7de; --muted: #57606a; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; }
main { max-width: 960px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
p.meta, footer, .muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 10px 5px 0; vertical-align: top;
  border-bottom: 1px solid var(--line); }
th { font-weight: 600; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; }
dt { font-weight: 600; }
dd { margin: 0; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff;
  font-size: 13px; font-weight: 600; }
.ok { background: var(--ok); } .bad { background: var(--bad); }
.busy { background: var(--busy); } .idle { background: var(--idle); }
code, .error { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.error { color: var(--bad); white-space: pre-wrap; }
footer { margin-top: 32px; font-size: 13px; }
"""

_BADGE_CLASS = {
    "ok": "ok",
    "ready": "ok",
    "running": "ok",
    "finished": "ok",
    "failed": "bad",
    "not ready": "bad",
    "aborted": "bad",
    "in_progress": "busy",
    "pending": "busy",
    "starting": "busy",
    "restarting": "busy",
    "restarted": "busy",
}


@dataclass(frozen=True)
class CheckView:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class StatusPageData:
    version: str
    hostname: str
    uptime: float
    ready: bool
    checks: list[CheckView]
    workers: dict[str, dict[str, Any]]
    last_maintenance: EventModel | None
    # Why the last run could not be read (database down), if so.
    last_maintenance_error: str | None
    scheduler_in_process: bool
    next_maintenance: datetime | None
    generated_at: datetime


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return NO_VALUE
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_uptime(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def format_duration_ms(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return NO_VALUE
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 120_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def format_result(result: object) -> str:
    """`{"deleted": 1204, "bytes": 38}` -> "deleted 1,204 · bytes 38"."""
    if not isinstance(result, dict) or not result:
        return NO_VALUE
    parts = []
    for key, value in result.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        parts.append(f"{key} {shown}")
    return " · ".join(parts)


def _badge(label: str) -> str:
    css = _BADGE_CLASS.get(label, "idle")
    return f'<span class="badge {css}">{escape(label)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """Rows hold already-escaped HTML cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _readiness_section(data: StatusPageData) -> str:
    rows = [
        [escape(check.name), _badge("ok" if check.ok else "failed"), escape(check.detail)]
        for check in data.checks
    ]
    return "<h2>Readiness</h2>" + _table(["Check", "State", "Detail"], rows)


def _workers_section(data: StatusPageData) -> str:
    if not data.workers:
        return '<h2>Background workers</h2><p class="muted">No background workers.</p>'
    rows = []
    for name, health in data.workers.items():
        error = health.get("lastError")
        rows.append(
            [
                escape(name),
                _badge(str(health.get("state", "unknown"))),
                escape(str(health.get("restarts", 0))),
                f'<span class="error">{escape(str(error))}</span>' if error else NO_VALUE,
            ]
        )
    table = _table(["Worker", "State", "Restarts", "Last error"], rows, frozenset({2}))
    return "<h2>Background workers</h2>" + table


def _next_run_text(data: StatusPageData) -> str:
    if data.next_maintenance is None:
        return "not scheduled (maintenance disabled)"
    where = "" if data.scheduler_in_process else " (by the maintenance runner, not this process)"
    return format_time(data.next_maintenance) + where


def _maintenance_section(data: StatusPageData) -> str:
    parts = ["<h2>Maintenance</h2>"]
    run = data.last_maintenance
    facts: list[tuple[str, str]] = []
    if run is not None:
        summary = run.summary
        facts += [
            ("Last run", _badge(run.status)),
            ("Description", escape(run.description) or NO_VALUE),
            ("Started", escape(format_time(run.created_at))),
            ("Updated", escape(format_time(run.updated_at))),
        ]
        if "trigger" in summary:
            facts.append(("Trigger", escape(str(summary["trigger"]))))
        if summary.get("dryRun"):
            facts.append(("Dry run", "yes: nothing was deleted"))
    elif data.last_maintenance_error:
        facts.append(
            (
                "Last run",
                f'<span class="error">unavailable: {escape(data.last_maintenance_error)}</span>',
            )
        )
    else:
        facts.append(("Last run", "maintenance has not run yet"))
    facts.append(("Next run", escape(_next_run_text(data))))
    parts.append("<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")

    tasks = run.summary.get("tasks") if run is not None else None
    if isinstance(tasks, list) and tasks:
        rows = []
        for task in tasks:
            if not isinstance(task, dict):
                continue
            error = task.get("error")
            rows.append(
                [
                    f"<code>{escape(str(task.get('name', '?')))}</code>",
                    escape(str(task.get("title", ""))),
                    _badge(str(task.get("status", "unknown"))),
                    escape(format_duration_ms(task.get("durationMs"))),
                    escape(format_result(task.get("result"))),
                    f'<span class="error">{escape(str(error))}</span>' if error else "",
                ]
            )
        headers = ["Task", "Title", "Status", "Duration", "Result", "Error"]
        parts.append(_table(headers, rows, frozenset({3})))
    return "".join(parts)


def render_status_page(data: StatusPageData) -> str:
    state = "ready" if data.ready else "not ready"
    header = (
        "<header><h1>AYON server</h1>"
        f'<p class="meta">version <code>{escape(data.version)}</code> · '
        f"host <code>{escape(data.hostname)}</code> · "
        f"up {escape(format_uptime(data.uptime))} · {_badge(state)} · "
        '<a href="/maintenance">admin pages</a> (log in)</p></header>'
    )
    footer = (
        f"<footer>Generated {escape(format_time(data.generated_at))}; "
        f"refreshes every {REFRESH_SECONDS} s. "
        'REST API: <a href="/docs">/docs</a> · probes: <a href="/api/health">/api/health</a>, '
        '<a href="/api/ready">/api/ready</a></footer>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>AYON server {escape(data.version)} · {state}</title>"
        f"<style>{_STYLE}</style></head><body><main>"
        + header
        + _readiness_section(data)
        + _workers_section(data)
        + _maintenance_section(data)
        + footer
        + "</main></body></html>"
    )
