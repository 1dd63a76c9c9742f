"""GET /api/logs: administrators filter and page through public.logs, newest first.

Each test seeds rows under a logger name of its own and filters on it, so records the app's own
log collector writes meanwhile never show up in the assertions.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ayon_server.runtime import Runtime
from tests.helpers.users import login, make_user
from tests.helpers.waiting import wait_until

RECORD_KEYS = {"id", "createdAt", "level", "message", "module", "user", "project", "context"}


@dataclass
class Seeded:
    module: str
    start: datetime

    def at(self, seconds: int) -> datetime:
        return self.start + timedelta(seconds=seconds)


@pytest.fixture
async def seeded(runtime: Runtime) -> Seeded:
    module = f"tests.api_{secrets.token_hex(4)}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    rows: list[tuple[int, str, str, str, str | None, str | None, dict[str, Any]]] = [
        (0, "debug", "debug detail", module, None, None, {}),
        (1, "info", "Render 100% done", f"{module}.render", "alice", "demo", {}),
        (2, "warning", "disk_usage high", module, "bob", "demo", {}),
        (3, "error", "Publish FAILED for shot", f"{module}.publish", "alice", "other", {"shot": 1}),
        (4, "critical", "database gone", module, None, None, {}),
        (4, "info", "same second twin", module, None, None, {}),
        (5, "info", "rendered 1000 frames", module, None, None, {}),
        (6, "info", "diskXusage normal", module, None, None, {}),
        (7, "info", "a sibling logger", f"{module}_sibling", None, None, {}),
    ]
    for offset, level, message, logger_name, user, project, context in rows:
        await runtime.db.execute(
            """
            INSERT INTO public.logs
                (created_at, level, message, module, user_name, project_name, context)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            start + timedelta(seconds=offset),
            level,
            message,
            logger_name,
            user,
            project,
            context,
        )
    return Seeded(module, start)


@pytest.fixture
async def admin(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await login(client, await make_user(runtime, isAdmin=True))


async def messages(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get("/api/logs", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [record["message"] for record in response.json()["logs"]]


async def test_records_come_newest_first_in_ayon_shape(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    response = await client.get(
        "/api/logs", params={"module": f"{seeded.module}.publish"}, headers=admin
    )
    assert response.status_code == 200
    body = response.json()
    assert body["nextCursor"] is None
    (record,) = body["logs"]
    assert set(record) == RECORD_KEYS
    assert record["level"] == "error"
    assert record["message"] == "Publish FAILED for shot"
    assert (record["user"], record["project"], record["context"]) == ("alice", "other", {"shot": 1})
    assert datetime.fromisoformat(record["createdAt"]) == seeded.at(3)

    everything = await messages(client, admin, module=seeded.module)
    assert everything == [
        "diskXusage normal",
        "rendered 1000 frames",
        "same second twin",  # same time as the next one, inserted later: larger id first
        "database gone",
        "Publish FAILED for shot",
        "disk_usage high",
        "Render 100% done",
        "debug detail",
    ]


async def test_the_level_filter_returns_that_level_and_the_more_severe_ones(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    assert await messages(client, admin, module=seeded.module, level="warning") == [
        "database gone",
        "Publish FAILED for shot",
        "disk_usage high",
    ]
    assert await messages(client, admin, module=seeded.module, level="critical") == [
        "database gone"
    ]


async def test_search_ignores_case_and_matches_wildcard_characters_literally(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    assert await messages(client, admin, module=seeded.module, search="publish failed") == [
        "Publish FAILED for shot"
    ]
    # Unescaped, "100%" would also match "1000 frames" and "_usage" would match "Xusage".
    assert await messages(client, admin, module=seeded.module, search="100%") == [
        "Render 100% done"
    ]
    assert await messages(client, admin, module=seeded.module, search="_usage") == [
        "disk_usage high"
    ]


async def test_the_module_filter_includes_child_loggers_but_not_siblings(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    assert "a sibling logger" not in await messages(client, admin, module=seeded.module)
    assert await messages(client, admin, module=f"{seeded.module}.render") == ["Render 100% done"]
    assert await messages(client, admin, module=f"{seeded.module}_sibling") == ["a sibling logger"]


async def test_user_project_and_time_range_filters_combine(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    module = seeded.module
    assert await messages(client, admin, module=module, user="alice") == [
        "Publish FAILED for shot",
        "Render 100% done",
    ]
    assert await messages(client, admin, module=module, project="demo") == [
        "disk_usage high",
        "Render 100% done",
    ]
    assert await messages(client, admin, module=module, user="alice", project="demo") == [
        "Render 100% done"
    ]
    # `after` is inclusive, `before` exclusive; a time without a zone is UTC.
    window = {"after": seeded.at(1).isoformat(), "before": seeded.at(3).isoformat()}
    assert await messages(client, admin, module=module, **window) == [
        "disk_usage high",
        "Render 100% done",
    ]
    naive = {"after": seeded.at(3).replace(tzinfo=None).isoformat()}
    assert len(await messages(client, admin, module=module, **naive)) == 5


async def test_paging_with_the_cursor_visits_every_record_once_in_order(
    client: httpx.AsyncClient, admin: dict[str, str], seeded: Seeded
) -> None:
    everything = await messages(client, admin, module=seeded.module)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"module": seeded.module, "limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/logs", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        seen += [record["message"] for record in body["logs"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == everything
    assert pages == 3


async def test_a_record_the_server_logs_can_be_read_back_through_the_api(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    marker = f"served-{secrets.token_hex(4)}"
    logging.getLogger("tests.api.end_to_end").warning("%s reached the database", marker)

    found = await wait_until(
        lambda: messages(client, admin, search=marker), what="the record to reach GET /api/logs"
    )
    assert found == [f"{marker} reached the database"]


async def test_anonymous_callers_get_401_and_non_admins_403(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    anonymous = await client.get("/api/logs")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == 401

    manager = await login(client, await make_user(runtime, isManager=True))
    forbidden = await client.get("/api/logs", headers=manager)
    assert forbidden.status_code == 403
    assert forbidden.json() == {"code": 403, "detail": "Administrators only"}


@pytest.mark.parametrize(
    "params",
    [
        {"level": "verbose"},
        {"limit": 0},
        {"limit": 1001},
        {"after": "yesterday"},
        {"search": ""},
        {"cursor": "not a cursor"},
        {"cursor": "eyJ4IjogMX0"},  # base64 of {"x": 1}: well-formed, but not ours
        {"after": "2026-11-29T10:00:00Z", "before": "2026-11-29T09:00:00Z"},
    ],
)
async def test_bad_parameters_are_400_with_a_detail(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, Any]
) -> None:
    response = await client.get("/api/logs", params=params, headers=admin)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400
    assert body["detail"]
