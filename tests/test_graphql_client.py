"""The official ayon-python-api client's GraphQL-backed getters against a
real server on a seeded hierarchy: folders, tasks, products, versions (hero and latest),
representations, workfiles, users, events, links, activities and project attributes.

The server runs in this test's event loop (uvicorn); ayon_api is synchronous, so its calls
run in threads.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from ayon_api.exceptions import GraphQlQueryFailed
from ayon_api.server_api import ServerAPI

from ayon_server.config import Settings
from ayon_server.projects.names import quoted_schema
from ayon_server.runtime import Runtime
from tests.helpers.server import server_app
from tests.helpers.users import make_user

PASSWORD = "correct horse battery"


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


@pytest.fixture(scope="module")
async def server_url(settings: Settings) -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(server_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def client_for(server_url: str, runtime: Runtime, **flags: bool) -> tuple[ServerAPI, str]:
    name = await make_user(runtime, password=PASSWORD, **flags)
    api = ServerAPI(server_url)
    await call(api.login, name, PASSWORD)
    return api, name


@dataclass
class Seed:
    api: ServerAPI  # a manager's client
    manager: str
    project: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def seed(server_url: str, settings: Settings) -> AsyncIterator[Seed]:
    runtime = Runtime.create(settings)
    api, manager = await client_for(server_url, runtime, isManager=True)
    project = f"gql_{secrets.token_hex(3)}"
    await call(api.create_project, project, project[-6:])
    await call(api.update_project, project, attrib={"fps": 24.0, "frameStart": 1001})
    ids: dict[str, str] = {}
    new = api.create_folder
    ids["assets"] = await call(new, project, "assets", folder_type="Folder")
    ids["char"] = await call(
        new, project, "char", folder_type="Asset", parent_id=ids["assets"], attrib={"fps": 30.0}
    )
    ids["shots"] = await call(new, project, "shots", folder_type="Folder", tags=["urgent"])
    ids["sh010"] = await call(new, project, "sh010", folder_type="Folder", parent_id=ids["shots"])
    ids["model"] = await call(
        api.create_task, project, "model", "Modeling", ids["char"], assignees=[manager]
    )
    ids["comp"] = await call(api.create_task, project, "comp", "Generic", ids["sh010"])
    ids["product"] = await call(api.create_product, project, "modelMain", "model", ids["char"])
    for number in (1, 2, 3):
        ids[f"v{number}"] = await call(
            api.create_version, project, number, ids["product"], task_id=ids["model"]
        )
    ids["hero"] = await call(api.create_version, project, -3, ids["product"])
    ids["repre"] = await call(
        api.create_representation,
        project,
        "abc",
        ids["v3"],
        files=[{"id": "f" * 32, "name": "a.abc", "path": "/p/a.abc", "size": 5_000_000_000}],
        data={"context": {"folder": {"name": "char"}}},
    )
    ids["workfile"] = await call(
        api.create_workfile_entity, project, "/work/char_model_v001.ma", ids["model"]
    )
    await call(api.create_link_type, project, "reference", "folder", "folder")
    link = await call(
        api.create_link, project, "reference", ids["char"], "folder", ids["sh010"], "folder"
    )
    ids["link"] = link["id"]
    ids["activity"] = await call(
        api.create_activity, project, ids["model"], "task", "comment", body="looks good"
    )
    try:
        yield Seed(api, manager, project, ids)
    finally:
        await call(api.delete_project, project)
        await runtime.close()


async def test_folder_getters_return_the_tree_with_inherited_attributes(seed: Seed) -> None:
    api, p, ids = seed.api, seed.project, seed.ids
    folders = {f["path"]: f for f in await call(lambda: list(api.get_folders(p)))}
    assert set(folders) == {"/assets", "/assets/char", "/shots", "/shots/sh010"}
    char = folders["/assets/char"]
    assert (char["id"], char["parentId"], char["folderType"]) == (
        ids["char"],
        ids["assets"],
        "Asset",
    )
    # Own value, then the project's, then the attribute default.
    assert (char["attrib"]["fps"], char["attrib"]["frameStart"]) == (30.0, 1001)
    assert char["attrib"]["resolutionWidth"] == 1920
    assert folders["/shots/sh010"]["attrib"]["fps"] == 24.0

    by_path = await call(api.get_folder_by_path, p, "/shots/sh010")
    assert by_path["id"] == ids["sh010"]
    assert (await call(api.get_folder_by_id, p, ids["char"]))["name"] == "char"
    assert (await call(api.get_folder_by_name, p, "shots"))["id"] == ids["shots"]
    assert await call(api.get_folder_ids_with_products, p) == {ids["char"]}
    roots = await call(lambda: [f["name"] for f in api.get_folders(p, parent_ids=[None])])
    assert sorted(roots) == ["assets", "shots"]
    leaves = await call(lambda: {f["name"] for f in api.get_folders(p, has_children=False)})
    assert leaves == {"char", "sh010"}
    tagged = await call(lambda: [f["name"] for f in api.get_folders(p, tags=["urgent"])])
    assert tagged == ["shots"]
    regex = await call(lambda: [f["name"] for f in api.get_folders(p, folder_path_regex="sh0")])
    assert regex == ["sh010"]
    own = await call(api.get_folder_by_id, p, ids["char"], own_attributes=True)
    assert own["ownAttrib"]["fps"] == 30.0 and own["ownAttrib"]["frameStart"] is None


async def test_task_getters_filter_by_folder_name_type_and_assignee(seed: Seed) -> None:
    api, p, ids = seed.api, seed.project, seed.ids
    tasks = await call(lambda: list(api.get_tasks(p)))
    assert {t["name"] for t in tasks} == {"model", "comp"}
    model = await call(api.get_task_by_id, p, ids["model"])
    assert (model["folderId"], model["taskType"], model["assignees"]) == (
        ids["char"],
        "Modeling",
        [seed.manager],
    )
    assert model["attrib"]["fps"] == 30.0  # inherited from its folder
    assert (await call(api.get_task_by_name, p, ids["sh010"], "comp"))["id"] == ids["comp"]
    by_paths = await call(api.get_tasks_by_folder_paths, p, ["/assets/char", "/shots/sh010"])
    assert {path: [t["name"] for t in ts] for path, ts in by_paths.items()} == {
        "/assets/char": ["model"],
        "/shots/sh010": ["comp"],
    }
    assert (await call(api.get_task_by_folder_path, p, "/shots/sh010", "comp"))["id"] == ids["comp"]
    mine = await call(lambda: [t["name"] for t in api.get_tasks(p, assignees=[seed.manager])])
    assert mine == ["model"]
    typed = await call(lambda: [t["name"] for t in api.get_tasks(p, task_types=["Generic"])])
    assert typed == ["comp"]


async def test_product_and_version_getters_know_hero_and_latest(seed: Seed) -> None:
    api, p, ids = seed.api, seed.project, seed.ids
    products = await call(lambda: list(api.get_products(p)))
    assert [(x["id"], x["name"], x["productType"]) for x in products] == [
        (ids["product"], "modelMain", "model")
    ]
    assert (await call(api.get_product_by_id, p, ids["product"]))["folderId"] == ids["char"]
    named = await call(api.get_product_by_name, p, "modelMain", ids["char"])
    assert named["id"] == ids["product"]
    assert {t["name"] for t in await call(api.get_product_types)} >= {"model"}

    versions = await call(lambda: {v["version"] for v in api.get_versions(p)})
    assert versions == {1, 2, 3, -3}
    standard = await call(lambda: {v["version"] for v in api.get_versions(p, hero=False)})
    assert standard == {1, 2, 3}
    latest = await call(lambda: [v["id"] for v in api.get_versions(p, latest=True, hero=False)])
    assert latest == [ids["v3"]]
    assert (await call(api.get_version_by_id, p, ids["v2"]))["version"] == 2
    assert (await call(api.get_version_by_name, p, 1, ids["product"]))["id"] == ids["v1"]
    assert (await call(api.get_hero_version_by_product_id, p, ids["product"]))["id"] == ids["hero"]
    assert (await call(api.get_hero_version_by_id, p, ids["hero"]))["version"] == -3
    assert [v["id"] for v in await call(lambda: list(api.get_hero_versions(p)))] == [ids["hero"]]
    last = await call(api.get_last_versions, p, [ids["product"]])
    assert last[ids["product"]]["id"] == ids["v3"]
    assert (await call(api.get_last_version_by_product_id, p, ids["product"]))["id"] == ids["v3"]
    by_name = await call(api.get_last_version_by_product_name, p, "modelMain", ids["char"])
    assert by_name["id"] == ids["v3"]
    assert await call(api.version_is_latest, p, ids["v3"]) is True
    assert await call(api.version_is_latest, p, ids["v1"]) is False
    own = await call(api.get_version_by_id, p, ids["v1"])
    assert own["taskId"] == ids["model"] and own["author"] == seed.manager


async def test_representation_and_workfile_getters_with_parents(seed: Seed) -> None:
    api, p, ids = seed.api, seed.project, seed.ids
    repre = await call(api.get_representation_by_id, p, ids["repre"])
    assert (repre["name"], repre["versionId"]) == ("abc", ids["v3"])
    assert repre["files"][0]["path"] == "/p/a.abc" and repre["files"][0]["size"] == 5_000_000_000
    assert repre["context"] == {"folder": {"name": "char"}}
    named = await call(api.get_representation_by_name, p, "abc", ids["v3"])
    assert named["id"] == ids["repre"]
    parents = await call(api.get_representation_parents, p, ids["repre"])
    assert (parents.version["id"], parents.product["id"], parents.folder["id"]) == (
        ids["v3"],
        ids["product"],
        ids["char"],
    )
    hierarchy = await call(api.get_representation_hierarchy, p, ids["repre"])
    assert hierarchy.task["id"] == ids["model"] and hierarchy.folder["path"] == "/assets/char"

    workfiles = await call(lambda: list(api.get_workfile_entities(p, task_ids=[ids["model"]])))
    assert [w["id"] for w in workfiles] == [ids["workfile"]]
    assert workfiles[0]["path"] == "/work/char_model_v001.ma"
    entity = await call(api.get_workfile_entity, p, ids["model"], "/work/char_model_v001.ma")
    assert entity["id"] == ids["workfile"]
    assert (await call(api.get_workfile_entity_by_id, p, ids["workfile"]))["taskId"] == ids["model"]


async def test_links_activities_users_events_and_project_fields(
    seed: Seed, server_url: str, runtime: Runtime
) -> None:
    api, p, ids = seed.api, seed.project, seed.ids
    out = await call(api.get_folder_links, p, ids["char"])
    assert [(x["id"], x["direction"], x["entityId"], x["linkType"]) for x in out] == [
        (ids["link"], "out", ids["sh010"], "reference")
    ]
    into = await call(api.get_folders_links, p, [ids["sh010"]], link_direction="in")
    assert into[ids["sh010"]][0]["entityType"] == "folder"

    activities = await call(lambda: list(api.get_activities(p, entity_ids=[ids["model"]])))
    assert [(a["activityId"], a["body"], a["author"]["name"]) for a in activities] == [
        (ids["activity"], "looks good", seed.manager)
    ]
    assert (await call(api.get_activity_by_id, p, ids["activity"]))["entityId"] == ids["model"]

    assert (await call(api.get_user_by_name, seed.manager))["isManager"] is True
    names = await call(lambda: {u["name"] for u in api.get_users()})
    assert seed.manager in names

    events = await call(
        lambda: list(api.get_events(topics=["entity.folder.created"], project_names=[p]))
    )
    assert len(events) == 4 and all(e["project"] == p for e in events)

    project = await call(api.get_project, p, fields={"name", "attrib"})
    assert project["attrib"]["fps"] == 24.0 and project["attrib"]["resolutionWidth"] == 1920
    types = await call(api.get_project, p, fields={"productTypes"})
    assert [t["name"] for t in types["productTypes"]] == ["model"]


async def test_a_normal_user_reads_entities_but_only_its_own_events_and_no_one_elses_secrets(
    seed: Seed, server_url: str, runtime: Runtime
) -> None:
    api, name = await client_for(server_url, runtime)
    assert len(await call(lambda: list(api.get_folders(seed.project)))) == 4
    topics = ["entity.folder.created"]
    assert (
        await call(lambda: list(api.get_events(topics=topics, project_names=[seed.project]))) == []
    )
    await call(api.update_folder, seed.project, seed.ids["sh010"], label="Shot 10")
    mine = await call(lambda: [e["user"] for e in api.get_events(project_names=[seed.project])])
    assert mine and set(mine) == {name}
    manager = await call(
        api.get_user_by_name, seed.manager, fields={"name", "data", "apiKeyPreview"}
    )
    assert manager["data"] is None and manager["apiKeyPreview"] is None


async def test_the_client_pages_through_more_folders_than_one_page_without_duplicates(
    seed: Seed, runtime: Runtime
) -> None:
    schema = quoted_schema(seed.project)
    await runtime.db.execute(
        f"INSERT INTO {schema}.folders (id, name, folder_type, parent_id, path, status) "
        f"SELECT gen_random_uuid(), 'bulk' || i, 'Folder', $1, 'shots/bulk' || i, 'Not ready' "
        "FROM generate_series(1, 650) AS i",
        __import__("uuid").UUID(hex=seed.ids["shots"]),
    )
    try:
        ids = await call(
            lambda: [f["id"] for f in seed.api.get_folders(seed.project, fields={"id"})]
        )
        assert len(ids) == 654 and len(set(ids)) == 654  # three pages of the client's 300
    finally:
        await runtime.db.execute(f"DELETE FROM {schema}.folders WHERE name LIKE 'bulk%'")


async def test_malformed_queries_are_graphql_errors_not_server_errors(seed: Seed) -> None:
    api, p = seed.api, seed.project
    for query, variables, expected in (
        ("{ project(name: ", {}, "Syntax Error"),
        ('{ project(name: "PROJECT") { nope } }', {}, "nope"),
        (
            '{ project(name: "PROJECT") { folders(after: "zz") { edges { node { id } } } } }',
            {},
            "Invalid cursor",
        ),
        (
            '{ project(name: "PROJECT") { folders(ids: ["x"]) { edges { node { id } } } } }',
            {},
            "32 hex",
        ),
        (
            '{ project(name: "PROJECT") { folders(pathEx: "(") { edges { node { id } } } } }',
            {},
            "Invalid filter",
        ),
        ('{ project(name: "no_such") { name } }', {}, "not found"),
        ('{ events(newerThan: "yesterday") { edges { node { id } } } }', {}, "ISO 8601"),
        (DEEP, {}, "exceeds maximum operation depth"),
    ):
        response = await call(api.query_graphql, query.replace("PROJECT", p), variables)
        messages = " ".join(e["message"] for e in response.errors or [])
        assert expected in messages, (query, response.data)
    with pytest.raises(GraphQlQueryFailed):
        await call(lambda: list(api.get_folders(p, filters={"conditions": []})))


# folder -> tasks -> folder -> ... deeper than any query the client builds
DEEP = (
    '{ project(name: "PROJECT") { folders { edges { node { '
    + "tasks { edges { node { folder { " * 4
    + "id"
    + " } } } }" * 4
    + " } } } } }"
)

NESTED = """query Nested($p: String!) { project(name: $p) { folders {
  edges { node { id allAttrib tasks { edges { node { id allAttrib folder { id } } } }
  links { edges { id } } } } } products { edges { node { id latestVersion { id }
  versions { edges { node { id representations { edges { node { id version { id } } } } } } }
} } } } }"""


async def test_a_nested_query_costs_the_same_statements_however_many_rows_it_returns(
    seed: Seed, runtime: Runtime
) -> None:
    async def statements() -> int:
        response = await call(seed.api.query_graphql, NESTED, {"p": seed.project})
        assert not response.errors, response.errors
        return response.data["extensions"]["sqlStatements"]

    before = await statements()
    api, p, ids = seed.api, seed.project, seed.ids
    created = []
    for i in range(3):
        folder = await call(
            api.create_folder, p, f"extra{i}", folder_type="Folder", parent_id=ids["shots"]
        )
        created.append(folder)
        task = await call(api.create_task, p, "work", "Generic", folder)
        product = await call(api.create_product, p, f"look{i}", "look", folder)
        version = await call(api.create_version, p, 1, product, task_id=task)
        await call(api.create_representation, p, "exr", version)
    try:
        assert await statements() == before
        # project, folders, tasks, task.folder, links, products, latest, versions,
        # representations, representation.version; attributes: project, ancestors (2 levels).
        assert before <= 14
    finally:
        for folder in created:
            await call(api.delete_folder, p, folder, force=True)
