"""The HTTP skeleton in-process: probes, /api/info, the status page and the error mapping.

Each test builds its own app with server_app() and drives its lifespan, so the background
workers really run against the test database (or a dead one).
"""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from ayon_server.api.dependencies import RuntimeDep
from ayon_server.config import Settings
from ayon_server.exceptions import ConflictException, ForbiddenException
from ayon_server.frontend.status_html import format_time
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from ayon_server.version import __version__
from setup.__main__ import run_setup
from tests.helpers.maintenance import schedule_nothing_due
from tests.helpers.server import free_port, server_app, serving

# ayon-python-api's VERSION_REGEX, matched in full.
AYON_VERSION_REGEX = re.compile(
    r"(?P<major>0|[1-9]\d*)"
    r"\.(?P<minor>0|[1-9]\d*)"
    r"\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>[a-zA-Z\d\-.]*))?"
    r"(?:\+(?P<buildmetadata>[a-zA-Z\d\-.]*))?"
)


def unreachable(settings: Settings, **which: bool) -> Settings:
    """The same settings with PostgreSQL and/or Redis pointing at a closed port."""
    update = {}
    if which.get("postgres"):
        update["postgres_url"] = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    if which.get("redis"):
        update["redis_url"] = f"redis://127.0.0.1:{free_port()}/0"
    return settings.model_copy(update=update)


async def test_health_is_ok_even_while_postgresql_and_redis_are_down(settings: Settings) -> None:
    app = server_app(unreachable(settings, postgres=True, redis=True))
    async with serving(app) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_200_on_the_set_up_test_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert {name: checks[name]["ok"] for name in ("postgres", "redis", "schema")} == {
        "postgres": True,
        "redis": True,
        "schema": True,
    }
    assert checks["workers"]["log_partitions"]["state"] in ("starting", "running")


async def test_ready_is_503_with_the_reason_when_postgresql_is_unreachable(
    settings: Settings,
) -> None:
    async with serving(server_app(unreachable(settings, postgres=True))) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == 503
    assert body["detail"].startswith("Not ready: postgres: ")
    assert body["checks"]["postgres"]["ok"] is False
    assert body["checks"]["schema"]["ok"] is False
    assert body["checks"]["redis"] == {"ok": True, "detail": "ok"}


async def test_ready_is_503_with_the_reason_when_redis_is_unreachable(settings: Settings) -> None:
    async with serving(server_app(unreachable(settings, redis=True))) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"].startswith("Not ready: redis: ")
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["postgres"]["ok"] is True


async def test_ready_is_503_while_a_migration_is_pending(empty_database: Settings) -> None:
    await run_setup(empty_database)
    runtime = Runtime.create(empty_database)
    try:
        await runtime.db.execute("DELETE FROM public.schema_migrations WHERE version = 1")
        async with serving(server_app(empty_database, runtime=runtime)) as client:
            response = await client.get("/api/ready")
    finally:
        await runtime.close()
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "Not ready: schema: pending migrations: 0001_core.sql"
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["schema"] == {
        "ok": False,
        "detail": "pending migrations: 0001_core.sql",
    }


async def test_ready_is_503_when_the_database_does_not_exist(empty_database: Settings) -> None:
    async with serving(server_app(empty_database)) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    assert "does not exist" in response.json()["checks"]["postgres"]["detail"]


async def test_info_reports_a_semver_version_and_uptime_anonymously(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/info")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"version", "uptime"}
    assert body["version"] == __version__
    assert AYON_VERSION_REGEX.fullmatch(body["version"])
    assert isinstance(body["uptime"], float) and body["uptime"] >= 0


async def test_info_full_adds_the_login_page_fields(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/info", params={"full": "true"})).json()
    assert body["passwordRecoveryAvailable"] is False
    assert body["ssoOptions"] == []


async def test_a_validation_error_is_400_with_ayons_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/info", params={"full": "notabool"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["detail"] == "Request validation error in [GET] /api/info"
    assert body["path"] == "/api/info"
    assert body["errors"][0]["loc"] == ["query", "full"]


async def test_an_unknown_api_path_is_404_with_ayons_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "detail": "API endpoint /api/no/such/thing not found",
        "path": "/api/no/such/thing",
    }


async def test_other_http_errors_carry_code_detail_and_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/health")
    assert response.status_code == 405
    assert response.json() == {
        "code": 405,
        "detail": "Method Not Allowed",
        "path": "/api/health",
    }
    assert "GET" in response.headers["allow"]


class Item(BaseModel):
    name: str
    count: int


def app_with_test_routes(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """The real app plus routes that fail in the ways the error mapping must handle."""
    app = server_app(settings, runtime=runtime)

    @app.get("/api/test/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals in a traceback")

    @app.get("/api/test/conflict")
    async def conflict() -> None:
        raise ConflictException("Event hash already exists", hash="abc")

    @app.get("/api/test/forbidden")
    async def forbidden() -> None:
        raise ForbiddenException()

    @app.post("/api/test/body")
    async def body(item: Item) -> Item:
        return item

    @app.get("/api/test/database")
    async def database(runtime: RuntimeDep) -> dict[str, int]:
        return {"one": await runtime.db.fetchval("SELECT 1")}

    @app.get("/api/test/redis")
    async def redis(runtime: RuntimeDep) -> dict[str, bool]:
        return {"found": await runtime.redis.get("anything") is not None}

    return app


@pytest.mark.parametrize(
    "content",
    [b'{"name": "x", "count": "many"}', b"[1, 2]", b"\xff\xfe not json", b"{broken"],
    ids=["wrong type", "not an object", "not utf-8", "not json"],
)
async def test_a_bad_request_body_is_400_never_500(settings: Settings, content: bytes) -> None:
    async with serving(app_with_test_routes(settings)) as client:
        for content_type in ("application/json", "text/plain"):
            response = await client.post(
                "/api/test/body", content=content, headers={"content-type": content_type}
            )
            assert response.status_code == 400, response.text
            assert response.json()["code"] == 400


async def test_an_unexpected_exception_is_500_without_a_traceback(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ayon_server.api.errors"):
        async with serving(app_with_test_routes(settings)) as client:
            response = await client.get("/api/test/crash")
    assert response.status_code == 500
    assert response.json() == {"code": 500, "detail": "Internal server error"}
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    # The traceback is in the server log instead.
    assert any(
        record.exc_info and "secret internals" in str(record.exc_info[1])
        for record in caplog.records
    )


async def test_ayon_exceptions_map_to_their_status_and_body(settings: Settings) -> None:
    async with serving(app_with_test_routes(settings)) as client:
        conflict = await client.get("/api/test/conflict")
        forbidden = await client.get("/api/test/forbidden")
    assert conflict.status_code == 409
    assert conflict.json() == {"code": 409, "detail": "Event hash already exists", "hash": "abc"}
    assert forbidden.status_code == 403
    assert forbidden.json() == {"code": 403, "detail": "Forbidden"}


async def test_a_request_while_a_database_is_down_is_503_retry_later(settings: Settings) -> None:
    app = app_with_test_routes(unreachable(settings, postgres=True, redis=True))
    async with serving(app) as client:
        postgres = await client.get("/api/test/database")
        redis = await client.get("/api/test/redis")
    assert postgres.status_code == 503
    assert postgres.json() == {
        "code": 503,
        "detail": "PostgreSQL database unavailable, retry later",
    }
    assert redis.status_code == 503
    assert redis.json() == {"code": 503, "detail": "Redis database unavailable, retry later"}
    assert postgres.headers["retry-after"]


async def test_the_same_routes_answer_normally_when_the_databases_are_up(
    settings: Settings,
) -> None:
    async with serving(app_with_test_routes(settings)) as client:
        assert (await client.get("/api/test/database")).json() == {"one": 1}
        assert (await client.get("/api/test/redis")).json() == {"found": False}


async def test_the_status_page_shows_version_readiness_and_the_last_maintenance_run(
    runtime: Runtime, clean_tables: None
) -> None:
    await runtime.events.dispatch(
        MAINTENANCE_TOPIC,
        status="failed",
        description="Clean-up logs <script>alert(1)</script>",
        summary={
            "trigger": "schedule",
            "dryRun": False,
            "tasks": [
                {
                    "name": "clean_thumbnails",
                    "title": "Clean-up thumbnails",
                    "status": "finished",
                    "durationMs": 1520,
                    "result": {"deleted": 1204},
                    "error": None,
                },
                {
                    "name": "clean_logs",
                    "title": "Clean-up logs",
                    "status": "failed",
                    "durationMs": 12,
                    "result": {},
                    "error": "partition is locked",
                },
            ],
        },
    )
    async with serving(server_app(runtime.settings, runtime=runtime)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert __version__ in page
    assert "Readiness" in page and "postgres" in page and "schema" in page
    assert "log_partitions" in page
    assert "clean_thumbnails" in page and "deleted 1,204" in page and "1.5 s" in page
    assert "partition is locked" in page
    assert "schedule" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "by the maintenance runner, not this process" in page
    assert "http://" not in page and "https://" not in page  # no external assets
    assert '<a href="/maintenance">admin pages</a>' in page


async def test_the_status_page_answers_200_while_postgresql_is_down(settings: Settings) -> None:
    async with serving(server_app(unreachable(settings, postgres=True))) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "not ready" in response.text
    assert "unavailable" in response.text


async def test_the_lifespan_stops_workers_and_leaves_a_given_runtime_open(
    runtime: Runtime,
) -> None:
    app = server_app(runtime.settings, runtime=runtime)
    async with serving(app) as client:
        assert (await client.get("/api/health")).status_code == 200
        workers = list(app.state.server.workers)
        assert workers and all(w.running for w in workers)
    assert all(not w.running and w.state == "stopped" for w in workers)
    assert await runtime.db.fetchval("SELECT 1") == 1


async def test_the_server_runs_the_maintenance_scheduler_when_asked(
    runtime: Runtime, clean_tables: None
) -> None:
    next_fire = await schedule_nothing_due(runtime.db)
    app = server_app(runtime.settings, run_maintenance=True, runtime=runtime)
    async with serving(app) as client:
        scheduler = app.state.server.scheduler
        assert scheduler is not None
        next_run = scheduler.next_run_time
        page = (await client.get("/")).text
    assert next_run == next_fire
    assert format_time(next_run) in page
    assert app.state.server.scheduler is None  # stopped by the lifespan shutdown


async def test_the_server_does_not_run_the_scheduler_unless_asked(runtime: Runtime) -> None:
    app = server_app(runtime.settings, runtime=runtime)
    async with serving(app):
        assert app.state.server.scheduler is None


def test_every_router_module_is_listed_once_in_routers() -> None:
    # A module whose router is missing from ROUTERS would serve nothing, silently.
    import importlib
    import pkgutil

    from ayon_server.api import routes

    modules = [
        importlib.import_module(f"{routes.__name__}.{m.name}")
        for m in pkgutil.iter_modules(routes.__path__)
    ]
    with_router = {id(m.router) for m in modules if hasattr(m, "router")}
    assert len(routes.ROUTERS) == len(set(map(id, routes.ROUTERS)))
    assert {id(r) for r in routes.ROUTERS} == with_router
