"""The admin web UI in a real browser: headless Chromium (the system's, /usr/bin/chromium) driven
by Playwright against a real server on this run's database.

Every test fails on a JavaScript error, on a console error other than the browser's note about
a 4xx answer the page then shows, on a 5xx answer, and on any request to a host other than the
server. Screenshots land in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from ayon_server.config import Settings
from ayon_server.maintenance.config import save_config
from ayon_server.runtime import Runtime
from ayon_server.snapshots.store import save_snapshot
from tests.helpers.maintenance import add_old_logs, only_tasks
from tests.helpers.server import server_app, uvicorn_in_process
from tests.helpers.settings import REPO_ROOT
from tests.helpers.users import make_user
from tests.helpers.waiting import wait_until

CHROMIUM = Path(os.environ.get("AYON_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
PASSWORD = "correct horse battery"
MIB = 1024 * 1024
# A 4xx the page asked for and shows (an invalid schedule): the browser logs it as an error.
EXPECTED_CONSOLE_NOTE = "Failed to load resource: the server responded with a status of 4"

pytestmark = [
    pytest.mark.usefixtures("clean_tables"),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
    ),
]

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    # The app with the maintenance procedure (runs start from the page), no scheduler.
    async with uvicorn_in_process(server_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        await browser.close()


@dataclass
class Visit:
    """A browser tab on the server, recording what must not happen."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def login(self, name: str, password: str = PASSWORD) -> None:
        await self.goto("/login")
        await self.page.get_by_label("User name").fill(name)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()
        await expect(self.page.locator("#current-user")).to_contain_text(name)

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def visit(browser: Browser, base_url: str) -> AsyncIterator[Visit]:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Europe/Prague"
    )
    page = await context.new_page()
    seen = Visit(page, base_url)
    server = urlsplit(base_url).netloc

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith(EXPECTED_CONSOLE_NOTE):
            seen.errors.append(message.text)

    def on_request(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and parts.netloc != server:
            seen.foreign.append(request.url)

    def on_response(response: Any) -> None:
        if response.status >= 500:
            seen.server_errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    context.on("request", on_request)
    page.on("response", on_response)
    try:
        yield seen
    finally:
        await context.close()
    assert seen.errors == [], "console errors"
    assert seen.foreign == [], "requests to another host"
    assert seen.server_errors == [], "5xx answers"


@pytest.fixture
async def admin(runtime: Runtime) -> str:
    return await make_user(runtime, isAdmin=True)


async def count_old_logs(runtime: Runtime) -> int:
    """The rows add_old_logs made that are left (the server's own records are not counted)."""
    return await runtime.db.fetchval(
        "SELECT count(*) FROM public.logs WHERE message LIKE 'old record %'"
    )


async def stored_config(runtime: Runtime) -> dict[str, Any]:
    return await runtime.db.fetchval("SELECT value FROM public.config WHERE key = 'maintenance'")


async def test_login_shows_the_servers_detail_then_logs_in_and_out(
    visit: Visit, admin: str
) -> None:
    page = visit.page
    await visit.goto("/maintenance")
    await expect(page).to_have_url(visit.base_url + "/login?next=%2Fmaintenance")
    await page.get_by_label("User name").fill(admin)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Invalid login/password combination")
    await visit.screenshot("login-failed")

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(visit.base_url + "/maintenance")
    await expect(page.locator("#current-user")).to_have_text(f"{admin} (admin)")
    assert len(await page.evaluate("localStorage.getItem('accessToken')")) == 64

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(visit.base_url + "/login")
    assert await page.evaluate("localStorage.getItem('accessToken')") is None
    await visit.goto("/events")
    await expect(page).to_have_url(visit.base_url + "/login?next=%2Fevents")


async def test_a_schedule_is_previewed_and_saved_and_an_invalid_one_shows_the_detail(
    visit: Visit, admin: str, runtime: Runtime
) -> None:
    page = visit.page
    await visit.login(admin)
    await visit.goto("/maintenance")
    preview = page.locator("#schedule-preview li")
    await expect(preview).to_have_count(5)

    await page.get_by_label("Cron expression").fill("0 0 30 2 *")
    error = page.locator("#schedule-error")
    await expect(error).to_contain_text("never fires: no date matches it")
    await expect(preview).to_have_count(0)
    await page.get_by_role("button", name="Save schedule").click()
    await expect(error).to_have_text(
        "invalid maintenance setting 'schedule' = '0 0 30 2 *': never fires: no date matches it"
    )
    assert await stored_config(runtime) is None

    await page.get_by_label("Cron expression").fill("30 1 * * 1-5")
    await page.get_by_label("Time zone").fill("America/New_York")
    await expect(preview).to_have_count(5)
    await expect(error).to_be_hidden()
    # 01:30 in New York is 06:30 UTC (winter), shown on hover; the text is the viewer's time.
    first = preview.first.locator("time")
    assert (await first.get_attribute("title")).endswith("06:30:00 UTC")
    await expect(preview.first).to_contain_text("01:30 in America/New_York")
    await page.get_by_role("button", name="Save schedule").click()
    await expect(page.locator("#schedule-saved")).to_have_text("Schedule saved")
    stored = await stored_config(runtime)
    assert stored["schedule"] == "30 1 * * 1-5" and stored["timezone"] == "America/New_York"

    # Settings: the server's validation is what the page shows.
    await page.get_by_label("Rows per batch").fill("0")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#settings-error")).to_contain_text("'batchSize' = 0")
    await page.get_by_label("Rows per batch").fill("250")
    await page.get_by_label("Window (minutes)").fill("0.5")
    await page.get_by_label("Pause between batches (ms)").fill("20")
    await page.get_by_label("Events (days)").fill("")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.locator("#settings-saved")).to_have_text("Settings saved")
    stored = await stored_config(runtime)
    assert stored["batchSize"] == 250 and stored["windowMinutes"] == 0.5
    assert stored["batchPauseMs"] == 20 and stored["eventRetentionDays"] is None
    await visit.screenshot("maintenance-schedule")


async def test_a_task_toggle_is_saved_and_run_now_finishes_live_without_a_reload(
    visit: Visit, admin: str, runtime: Runtime
) -> None:
    await save_config(runtime, {"tasks": only_tasks("clean_logs", "clean_events", "clean_links")})
    await add_old_logs(runtime.db, 30)
    await add_size_snapshots(runtime)
    page = visit.page
    await visit.login(admin)
    await visit.goto("/maintenance")
    await expect(page.locator("body")).to_have_attribute("data-live", "connected")

    toggle = page.get_by_label("Enable Clean-up events")
    await expect(toggle).to_be_checked()
    await toggle.uncheck()
    await wait_until(
        lambda: _task_enabled(runtime, "clean_events", False), what="clean_events disabled"
    )
    await page.evaluate("window.notReloaded = true")

    await page.get_by_role("button", name="Run now").click()
    first_run = page.locator("#history-table tbody tr.run").first
    await expect(first_run.locator(".badge")).to_have_text("finished")
    await expect(page.locator("#last-run .badge")).to_have_text("finished")
    assert await page.evaluate("window.notReloaded") is True
    assert await count_old_logs(runtime) == 0

    await first_run.get_by_role("button").click()
    detail = page.locator("#history-table tr.detail").first
    await expect(detail).to_be_visible()
    logs_row = detail.locator("tr", has=page.locator("code", has_text="clean_logs"))
    await expect(logs_row).to_contain_text("deleted 30")
    events_row = detail.locator("tr", has=page.locator("code", has_text="clean_events"))
    await expect(events_row.locator(".badge")).to_have_text("skipped")
    # The task table shows the last outcome, the charts are drawn (SVG from the server).
    await expect(
        page.locator("#tasks-table tr", has=page.locator("code", has_text="clean_logs"))
    ).to_contain_text("deleted 30")
    await expect(page.locator("#chart-removed svg")).to_be_visible()
    await expect(page.locator("#chart-durations svg")).to_contain_text("clean_logs")
    await expect(page.locator("#chart-sizes svg")).to_contain_text("public.logs")
    await visit.screenshot("maintenance-after-run")

    # A dry run counts and deletes nothing; one task runs alone, even while disabled.
    await add_old_logs(runtime.db, 5)
    await page.get_by_role("button", name="Dry run").click()
    runs = page.locator("#history-table tbody tr.run")
    await expect(runs).to_have_count(2)
    await expect(first_run).to_contain_text("api (dry run)")
    await expect(first_run.locator(".badge")).to_have_text("finished")
    assert await count_old_logs(runtime) == 5
    await page.get_by_label("Task", exact=True).select_option("clean_events")
    await page.get_by_role("button", name="Run this task").click()
    await expect(runs).to_have_count(3)
    await expect(first_run.locator(".badge")).to_have_text("finished")
    await first_run.get_by_role("button").click()
    only = page.locator("#history-table tr.detail").first.locator("tbody tr")
    await expect(only).to_have_count(1)
    await expect(only).to_contain_text("clean_events")
    assert await count_old_logs(runtime) == 5
    await expect(page.locator("#chart-removed svg")).to_contain_text("(dry)")
    # Each task's last outcome comes from the newest run that ran it.
    await expect(
        page.locator("#tasks-table tr", has=page.locator("code", has_text="clean_logs"))
    ).to_contain_text("deleted 5")
    await visit.screenshot("maintenance-three-runs")


async def add_size_snapshots(runtime: Runtime, days: int = 14) -> None:
    """Daily metrics snapshots of a database that grows, for the sizes chart."""
    today = date.today()
    for age in range(days, -1, -1):
        grown = (days - age) * 3 * MIB
        await save_snapshot(
            runtime.db,
            today - timedelta(days=age),
            {
                "databaseBytes": 60 * MIB + grown,
                "tables": {
                    "public.logs": {"bytes": 20 * MIB + grown, "estimatedRows": 1},
                    "public.events": {"bytes": 8 * MIB + grown // 3, "estimatedRows": 1},
                    "public.users": {"bytes": MIB, "estimatedRows": 1},
                },
            },
        )


async def _task_enabled(runtime: Runtime, name: str, enabled: bool) -> bool:
    stored = await stored_config(runtime)
    return bool(stored) and stored.get("tasks", {}).get(name, {}).get("enabled") is enabled


async def test_a_running_run_shows_live_progress_and_can_be_cancelled(
    visit: Visit, admin: str, runtime: Runtime
) -> None:
    # One row a batch with a pause: clean_logs runs for many seconds, time to watch and cancel.
    tasks = only_tasks("collect_metrics", "clean_thumbnails", "clean_logs")
    await save_config(runtime, {"tasks": tasks, "batchSize": 1, "batchPauseMs": 5})
    await add_old_logs(runtime.db, 3000)
    page = visit.page
    await visit.login(admin)
    await visit.goto("/maintenance")
    await expect(page.locator("body")).to_have_attribute("data-live", "connected")

    await page.get_by_role("button", name="Run now").click()
    await expect(page.locator("#progress-text")).to_contain_text("Clean-up logs")
    # Two of three tasks are done: the whole run's bar moved on, pushed over the websocket.
    await page.wait_for_function("document.getElementById('run-progress').value >= 60")
    cancel = page.get_by_role("button", name="Cancel run")
    await expect(cancel).to_be_enabled()
    await expect(page.get_by_role("button", name="Run now")).to_be_disabled()
    await visit.screenshot("maintenance-running")

    await cancel.click()
    await expect(page.locator("#run-message")).to_contain_text("Cancel requested")
    first_run = page.locator("#history-table tbody tr.run").first
    await expect(first_run.locator(".badge")).to_have_text("aborted")
    await expect(first_run).to_contain_text(f"cancelled by {admin}")
    await expect(page.locator("#progress-block")).to_be_hidden()
    assert 0 < await count_old_logs(runtime) < 3000

    # Cancelling when nothing runs is refused by the server; the button is disabled again.
    await expect(cancel).to_be_disabled()


async def test_events_filter_live_and_detail(visit: Visit, admin: str, runtime: Runtime) -> None:
    topic = f"webui.test.{uuid.uuid4().hex[:6]}"
    await runtime.events.dispatch(
        topic, description="first one", summary={"n": 1}, payload={"secret": "payload text"}
    )
    await runtime.events.dispatch("other.topic", description="not this one")
    page = visit.page
    await visit.login(admin)
    await visit.goto("/events")
    await expect(page.locator("body")).to_have_attribute("data-live", "connected")
    await expect(page.locator("#live-state")).to_have_text("live")
    await page.get_by_label("Topic").fill(topic)
    await page.get_by_role("button", name="Apply").click()
    rows = page.locator("#events-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("first one")

    await runtime.events.dispatch(topic, description="arrived live", status="in_progress")
    await runtime.events.dispatch("other.topic", description="filtered out live")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("arrived live")
    await expect(rows.first.locator(".badge")).to_have_text("in_progress")

    await rows.nth(1).click()
    await expect(page.locator("#detail-payload")).to_contain_text('"secret": "payload text"')
    await expect(page.locator("#detail-summary")).to_contain_text('"n": 1')
    await visit.screenshot("events")

    await page.get_by_label("Newer than").fill("2015-01-01T00:00:00")
    await page.get_by_label("Older than").fill("2014-01-01T00:00:00")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_text("No events match")


async def test_logs_filter_by_level_and_text_and_page_back_in_time(
    visit: Visit, admin: str, runtime: Runtime
) -> None:
    await add_old_logs(runtime.db, 30)
    await runtime.db.execute(
        "INSERT INTO public.logs (created_at, level, message, module)"
        " VALUES ('2016-01-01', 'error', 'disk on fire', 'ayon_server.files')"
    )
    page = visit.page
    await visit.login(admin)
    await visit.goto("/logs")
    await page.get_by_label("Minimum level").select_option("error")
    await page.get_by_label("Text").fill("on fire")
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("#logs-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("disk on fire")
    await expect(rows.first.locator(".badge")).to_have_text("error")

    await page.get_by_label("Minimum level").select_option("")
    await page.get_by_label("Text").fill("old record")
    await page.get_by_label("Per page").select_option("25")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(25)
    await expect(rows.first).to_contain_text("old record 30")
    await page.get_by_role("button", name="Older").click()
    await expect(rows).to_have_count(5)
    await expect(rows.first).to_contain_text("old record 5")
    await expect(page.get_by_role("button", name="Older")).to_be_disabled()
    await page.get_by_role("button", name="Newer").click()
    await expect(rows.first).to_contain_text("old record 30")

    await page.get_by_label("From").fill("2020-01-01T00:00:00")
    await page.get_by_label("Until").fill("2019-01-01T00:00:00")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#log-error")).to_have_text("`after` must be earlier than `before`")
    await visit.screenshot("logs")


async def test_user_admin_create_disable_rekey_password_and_sessions(
    visit: Visit, admin: str, runtime: Runtime
) -> None:
    page = visit.page
    await visit.login(admin)
    await visit.goto("/users")
    form = page.locator("#new-user-form")
    await form.get_by_label("User name").fill("not a valid name!")
    await form.get_by_role("button", name="Create user").click()
    await expect(page.locator("#new-user-error")).to_have_text(
        "Invalid user name 'not a valid name!'"
    )

    name = f"artist_{uuid.uuid4().hex[:6]}"
    await form.get_by_label("User name").fill(name)
    await form.get_by_label("Full name").fill("An Artist")
    await form.get_by_label("Password", exact=True).fill(PASSWORD)
    await form.get_by_role("button", name="Create user").click()
    row = page.locator(f'#users-table tr[data-user="{name}"]')
    await expect(row).to_contain_text("An Artist")
    await expect(row.locator(".badge")).to_have_text("active")

    await row.get_by_role("button", name=f"Disable {name}").click()
    await expect(row.locator(".badge")).to_have_text("disabled")
    await row.get_by_role("button", name=f"Enable {name}").click()
    await expect(row.locator(".badge")).to_have_text("active")

    service = f"bot_{uuid.uuid4().hex[:6]}"
    await form.get_by_label("User name").fill(service)
    await form.get_by_label("Service", exact=False).check()
    await form.get_by_role("button", name="Create user").click()
    await page.get_by_role("button", name=f"New API key for {service}").click()
    key = await page.locator("#new-api-key").text_content()
    user = await _user_by_key(runtime, key or "")
    assert user == service

    # The admin's own sessions: this browser's is listed; a new password for the artist.
    await expect(page.locator("#sessions-table tbody tr")).to_contain_text("this browser")
    await row.get_by_role("button", name=f"Open {name}").click()
    await expect(page.locator("#selected-name")).to_have_text(name)
    await page.get_by_role("button", name="Set password").click()
    await expect(page.locator("#selected-error")).to_be_visible()  # empty password: refused
    await page.get_by_placeholder("New password").fill("a brand new password")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.locator("#selected-notice")).to_contain_text("Password of")
    await visit.screenshot("users")

    # The artist logs in elsewhere; the admin ends every session of theirs.
    other = await visit.page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        artist = Visit(await other.new_page(), visit.base_url)
        await artist.login(name, "a brand new password")
        await page.get_by_role("button", name=f"Open {name}").click()
        await expect(page.locator("#sessions-table tbody tr")).to_have_count(1)
        await page.get_by_role("button", name="Log out everywhere").click()
        await expect(page.locator("#selected-notice")).to_contain_text("Every session")
        await expect(page.locator("#sessions-table tbody tr")).to_have_text("No sessions")
        # A normal user sees only Sites and Users, and not the admin pages' content.
        await artist.goto("/maintenance")
        await expect(artist.page).to_have_url(visit.base_url + "/login?next=%2Fmaintenance")
        await artist.login(name, "a brand new password")
        await artist.goto("/maintenance")
        await expect(artist.page.locator("#forbidden")).to_be_visible()
        nav = artist.page.get_by_role("navigation", name="Main")
        await expect(nav.get_by_role("link")).to_have_text(["Status", "Sites", "Users"])
        await artist.screenshot("non-admin")
    finally:
        await other.close()


async def _user_by_key(runtime: Runtime, key: str) -> str | None:
    from ayon_server.auth.users import get_user_by_api_key

    user = await get_user_by_api_key(runtime.db, key)
    return user.name if user else None


async def test_sites_lists_and_removes_a_site(visit: Visit, admin: str, runtime: Runtime) -> None:
    await runtime.db.execute("TRUNCATE public.sites")
    await runtime.db.execute(
        "INSERT INTO public.sites (id, platform, hostname, version, users, last_seen)"
        " VALUES ('site-one', 'linux', 'render-07', '1.2.0', ARRAY[$1], now())",
        admin,
    )
    page = visit.page
    await visit.login(admin)
    await visit.goto("/sites")
    row = page.locator("#sites-table tbody tr")
    await expect(row).to_contain_text("render-07")
    await page.get_by_role("button", name="Remove site site-one").click()
    await expect(row).to_have_text("No sites yet")
    assert await runtime.db.fetchval("SELECT count(*) FROM public.sites") == 0


async def test_an_addon_is_uploaded_installed_on_the_replica_and_deleted(
    visit: Visit, admin: str, tmp_path: Path
) -> None:
    name = f"webui_{uuid.uuid4().hex[:6]}"
    archive = tmp_path / f"{name}-1.0.0.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr(
            "manifest.json", json.dumps({"addon_name": name, "addon_version": "1.0.0"})
        )
        package.writestr("addon/private/client.zip", b"client code")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip at all")
    page = visit.page
    await visit.login(admin)
    await visit.goto("/addons")

    await page.get_by_role("button", name="Upload and install").click()
    await expect(page.locator("#upload-error")).to_have_text("Choose an addon package (.zip) first")
    await page.get_by_label("Addon package (.zip)").set_input_files(broken)
    await page.get_by_role("button", name="Upload and install").click()
    await expect(page.locator("#upload-error")).to_be_visible()
    assert "zip" in (await page.locator("#upload-error").text_content() or "").lower()

    await page.get_by_label("Addon package (.zip)").set_input_files(archive)
    await page.get_by_role("button", name="Upload and install").click()
    await expect(page.locator("#upload-notice")).to_have_text(f"{archive.name} uploaded")
    row = page.locator(f'#addons-table tr[data-addon="{name}"]')
    await expect(row).to_contain_text("1.0.0")
    install = page.locator("#installs-table tbody tr", has_text=name).first
    await expect(install.locator(".badge")).to_have_text("finished")
    await visit.screenshot("addons")

    # The replica this server is reports the addon installed.
    await visit.goto("/replicas")
    installed = page.locator("#replicas-table li", has_text=f"addon {name} 1.0.0")
    await expect(installed.locator(".badge")).to_have_text("installed")
    replica = page.locator("#replicas-table tbody tr", has_text=f"addon {name} 1.0.0")
    await expect(replica.locator("td").nth(3)).to_have_text("live")
    await visit.screenshot("replicas")

    await visit.goto("/addons")
    await page.get_by_role("button", name=f"Delete {name} 1.0.0").click()
    await expect(row).to_have_count(0)
