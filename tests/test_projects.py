"""Projects: create, list, read, change, delete; each project's own schema."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from ayon_server.projects.names import project_schema
from ayon_server.runtime import Runtime
from tests.helpers.events import project_events, published_topics, subscribe_events
from tests.helpers.projects import create_project, unique_name
from tests.helpers.users import login, make_user

PROJECT_TABLES = {
    "folders",
    "tasks",
    "products",
    "versions",
    "representations",
    "workfiles",
    "thumbnails",
    "link_types",
    "links",
    "activities",
    "activity_references",
    "files",
    "deleted_entities",
    "thumbnail_candidates",
    "gone_origins",
}
# Columns operators' scripts rely on (CONTRACT).
CONTRACT_COLUMNS = {
    **{table: {"id", "created_at", "updated_at"} for table in ("products", "representations")},
    **{
        table: {"id", "created_at", "updated_at", "thumbnail_id"}
        for table in ("folders", "tasks", "versions", "workfiles")
    },
    "thumbnails": {"id", "created_at"},
    "link_types": {"name", "input_type", "output_type"},
    "links": {"id", "link_type", "input_id", "output_id", "created_at"},
    "activities": {"id", "activity_type", "body", "created_at", "updated_at"},
    "activity_references": {
        "id",
        "activity_id",
        "reference_type",
        "entity_type",
        "entity_id",
        "created_at",
        "updated_at",
    },
    "files": {"id", "activity_id", "created_at"},
}
PROJECT_MODEL_KEYS = {
    "name",
    "code",
    "library",
    "active",
    "attrib",
    "ownAttrib",
    "data",
    "config",
    "folderTypes",
    "taskTypes",
    "statuses",
    "tags",
    "linkTypes",
    "createdAt",
    "updatedAt",
}


async def manager_headers(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return await login(client, await make_user(runtime, isManager=True))


async def schema_tables(runtime: Runtime, name: str) -> set[str]:
    rows = await runtime.db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
        project_schema(name),
    )
    return {row["table_name"] for row in rows}


async def test_a_manager_creates_a_project_with_its_schema_and_the_builtin_anatomy(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = await create_project(client, headers, label="Demo project", data={"skeleton": False})

    assert await schema_tables(runtime, name) == PROJECT_TABLES
    response = await client.get(f"/api/projects/{name}", headers=headers)
    assert response.status_code == 200
    project = response.json()
    assert PROJECT_MODEL_KEYS <= set(project)
    assert project["name"] == name and project["label"] == "Demo project"
    assert project["library"] is False and project["active"] is True
    assert project["data"] == {"skeleton": False}
    assert [t["name"] for t in project["folderTypes"]][:2] == ["Folder", "Library"]
    assert "Generic" in [t["name"] for t in project["taskTypes"]]
    assert project["statuses"][0]["name"] == "Not ready"
    assert project["attrib"]["fps"] == 25.0 and set(project["ownAttrib"]) == set(project["attrib"])
    assert project["config"]["roots"]["work"]["linux"] == "/mnt/share/projects"
    assert "default" in project["config"]["templates"]["work"]
    assert {
        "name": "reference|version|version",
        "linkType": "reference",
        "inputType": "version",
        "outputType": "version",
        "data": {"color": "#d94383", "style": "solid"},
    } in project["linkTypes"]
    (event,) = await project_events(runtime, "entity.project.created", name)
    assert event["summary"]["entityId"] == name


async def test_every_project_schema_has_the_contract_columns(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name = await create_project(client, await manager_headers(client, runtime))

    rows = await runtime.db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1",
        project_schema(name),
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    for table, required in CONTRACT_COLUMNS.items():
        assert required <= columns[table], f"{table} lacks {required - columns[table]}"


async def test_names_ignore_case_and_a_taken_name_or_code_is_409(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = await create_project(client, headers, name=unique_name("Demo"), code="dmo_" + "x")
    code = (await client.get(f"/api/projects/{name}", headers=headers)).json()["code"]

    same_name = await client.post(
        "/api/projects", json={"name": name.lower(), "code": "other"}, headers=headers
    )
    same_code = await client.post(
        "/api/projects", json={"name": unique_name(), "code": code.upper()}, headers=headers
    )

    assert same_name.status_code == 409
    assert same_name.json() == {"code": 409, "detail": f"Project {name.lower()} already exists"}
    assert same_code.status_code == 409 and "code" in same_code.json()["detail"]
    by_other_case = await client.get(f"/api/projects/{name.upper()}", headers=headers)
    assert by_other_case.status_code == 200 and by_other_case.json()["name"] == name


@pytest.mark.parametrize(
    "name",
    ["../x", "a-b", "x" * 65, "x;DROP TABLE public.users", "p' OR '1'='1", "a b", "", "ünï"],
)
async def test_an_invalid_project_name_is_400_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, name: str
) -> None:
    headers = await manager_headers(client, runtime)
    schemas_before = await runtime.db.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'project\\_%'"
    )

    response = await client.post(
        "/api/projects", json={"name": name, "code": "code"}, headers=headers
    )

    assert response.status_code == 400
    assert response.json()["code"] == 400 and response.json()["detail"]
    assert (
        await runtime.db.fetchval("SELECT count(*) FROM public.projects WHERE name = $1", name) == 0
    )
    assert (
        await runtime.db.fetchval(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'project\\_%'"
        )
        == schemas_before
    )


@pytest.mark.parametrize("name", ["a-b", "x;DROP", "x" * 65])
async def test_an_invalid_name_in_a_project_url_is_400(
    client: httpx.AsyncClient, runtime: Runtime, name: str
) -> None:
    headers = await manager_headers(client, runtime)
    for method in ("GET", "PATCH", "DELETE"):
        body = {} if method == "PATCH" else None
        response = await client.request(method, f"/api/projects/{name}", json=body, headers=headers)
        assert response.status_code == 400, (method, response.text)


async def test_long_names_whose_schemas_would_collide_are_409_and_match_the_sql_rule(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    stem = secrets.token_hex(28)  # 56 characters: both names cut to the same 63-char schema
    first = await create_project(client, headers, name=stem + "a" * 8, code=unique_name())

    second = await client.post(
        "/api/projects", json={"name": stem + "b" * 8, "code": unique_name()}, headers=headers
    )

    assert second.status_code == 409
    sql_schema = await runtime.db.fetchval("SELECT public.project_schema_name($1)", first)
    assert sql_schema == project_schema(first) and len(sql_schema) == 63


async def test_the_project_list_has_ayons_shape_and_filters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    active = await create_project(client, headers, library=True)
    inactive = await create_project(client, headers, active=False)

    everything = (await client.get("/api/projects", headers=headers)).json()
    only_active = (await client.get("/api/projects?active=true", headers=headers)).json()
    libraries = (await client.get("/api/projects?library=true", headers=headers)).json()

    assert set(everything) == {"detail", "count", "projects"}
    assert everything["count"] == len(everything["projects"])
    listed = {p["name"]: p for p in everything["projects"]}
    assert set(listed[active]) >= {"name", "code", "active", "library", "createdAt", "updatedAt"}
    assert {active, inactive} <= set(listed)
    assert active in {p["name"] for p in only_active["projects"]}
    assert inactive not in {p["name"] for p in only_active["projects"]}
    assert {p["name"] for p in libraries["projects"]} >= {active}
    assert inactive not in {p["name"] for p in libraries["projects"]}


async def test_patch_replaces_lists_merges_attrib_and_emits_a_changed_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = await create_project(client, headers, attrib={"fps": 24, "clipIn": 1})

    response = await client.patch(
        f"/api/projects/{name}",
        json={
            "label": "Renamed",
            "active": False,
            "folderTypes": [{"name": "Shot", "icon": "movie"}],
            "attrib": {"fps": 30, "clipIn": None},
            "linkTypes": [{"linkType": "breakdown", "inputType": "folder", "outputType": "task"}],
        },
        headers=headers,
    )

    assert response.status_code == 204
    project = (await client.get(f"/api/projects/{name}", headers=headers)).json()
    assert project["label"] == "Renamed" and project["active"] is False
    assert project["folderTypes"] == [{"name": "Shot", "icon": "movie"}]
    assert project["attrib"] == {"fps": 30}
    assert [lt["name"] for lt in project["linkTypes"]] == ["breakdown|folder|task"]
    (event,) = await project_events(runtime, "entity.project.changed", name)
    assert set(event["payload"]["changes"]) == {
        "label",
        "active",
        "folder_types",
        "attrib",
        "link_types",
    }


async def test_bad_patches_are_400_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = await create_project(client, headers)
    before = (await client.get(f"/api/projects/{name}", headers=headers)).json()

    for body in (
        {"code": "has space"},
        {"folderTypes": [{"name": "A"}, {"name": "a"}]},
        {"linkTypes": [{"linkType": "x", "inputType": "user", "outputType": "folder"}]},
        {"attrib": "not an object"},
        {"data": {"text": "nul \u0000 inside"}},
        {
            "linkTypes": [
                {
                    "linkType": "x",
                    "inputType": "folder",
                    "outputType": "folder",
                    "data": {"color": "\u0000"},
                }
            ]
        },
    ):
        response = await client.patch(f"/api/projects/{name}", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)

    assert (await client.get(f"/api/projects/{name}", headers=headers)).json() == before


async def test_deleting_a_project_drops_its_schema_and_publishes_a_deleted_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = await create_project(client, headers)
    pubsub = await subscribe_events(runtime)

    response = await client.delete(f"/api/projects/{name}", headers=headers)

    assert response.status_code == 204
    assert await schema_tables(runtime, name) == set()
    assert (await client.get(f"/api/projects/{name}", headers=headers)).status_code == 404
    (event,) = await project_events(runtime, "entity.project.deleted", name)
    assert event["summary"]["entityId"] == name
    published = await published_topics(pubsub, "entity.project.deleted")
    assert published[-1]["project"] == name


async def test_an_unknown_project_is_404_with_ayons_message(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)
    name = unique_name("nope")
    for method in ("GET", "PATCH", "DELETE"):
        body = {} if method == "PATCH" else None
        response = await client.request(method, f"/api/projects/{name}", json=body, headers=headers)
        assert response.status_code == 404
        assert response.json() == {"code": 404, "detail": f"Project {name} not found"}


async def test_only_managers_create_change_or_delete_projects(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    name = await create_project(client, await manager_headers(client, runtime))
    user = await login(client, await make_user(runtime))

    assert (await client.get(f"/api/projects/{name}", headers=user)).status_code == 200
    assert (await client.get("/api/projects", headers=user)).status_code == 200
    attempts = [
        ("POST", "/api/projects", {"name": unique_name(), "code": "c"}),
        ("PATCH", f"/api/projects/{name}", {"label": "x"}),
        ("DELETE", f"/api/projects/{name}", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body, headers=user)
        assert response.status_code == 403, (method, response.text)
    assert await schema_tables(runtime, name) == PROJECT_TABLES


async def test_anonymous_callers_get_401_from_every_project_endpoint(
    client: httpx.AsyncClient,
) -> None:
    for method, url in [
        ("GET", "/api/projects"),
        ("POST", "/api/projects"),
        ("GET", "/api/projects/demo"),
        ("PATCH", "/api/projects/demo"),
        ("DELETE", "/api/projects/demo"),
        ("GET", "/api/anatomy/presets/__primary__"),
    ]:
        response = await client.request(method, url, json={} if method != "GET" else None)
        assert response.status_code == 401, (method, url)


async def test_the_primary_anatomy_preset_is_snake_case_and_deploys_as_given(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await manager_headers(client, runtime)

    preset = (await client.get("/api/anatomy/presets/__primary__", headers=headers)).json()
    assert {"folder_types", "task_types", "statuses", "tags", "roots", "templates"} <= set(preset)
    assert {"attributes", "link_types", "entity_naming", "product_base_types"} <= set(preset)
    preset["folder_types"] = [{"name": "Character", "shortName": "chr", "icon": "person"}]
    name = await create_project(client, headers, anatomy=preset)

    project = (await client.get(f"/api/projects/{name}", headers=headers)).json()
    assert project["folderTypes"] == [{"name": "Character", "shortName": "chr", "icon": "person"}]
    assert project["statuses"] == preset["statuses"]
    assert (await client.get("/api/anatomy/presets/_", headers=headers)).json() == (
        await client.get("/api/anatomy/presets/__builtin__", headers=headers)
    ).json()
    missing = await client.get("/api/anatomy/presets/studio", headers=headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "anatomy",
    [
        {"folder_types": [{"name": "Shot"}, {"name": "shot"}]},
        {"link_types": [{"link_type": "x", "input_type": "planet", "output_type": "folder"}]},
        {"statuses": [{"shortName": "nameless"}]},
        {"templates": {"version_padding": 0}},
    ],
)
async def test_a_bad_anatomy_is_400_and_creates_nothing(
    client: httpx.AsyncClient, runtime: Runtime, anatomy: dict[str, Any]
) -> None:
    headers = await manager_headers(client, runtime)
    name = unique_name()

    response = await client.post(
        "/api/projects", json={"name": name, "code": name, "anatomy": anatomy}, headers=headers
    )

    assert response.status_code == 400
    assert (await client.get(f"/api/projects/{name}", headers=headers)).status_code == 404
