"""`POST /graphql`: project folders/tasks connections, nesting, paging, auth and errors."""

from __future__ import annotations

import httpx

from ayon_server.lib.postgres import Postgres
from ayon_server.projects.names import project_schema
from tests.helpers.projects import Project, create

NESTED = """query Q($p: String!, $first: Int, $after: String) {
  project(name: $p) { folders(first: $first, after: $after) {
    edges { node { id name path tasks { edges { node { id name folderId } } } } }
    pageInfo { hasNextPage endCursor } } } }"""


async def gql(client: httpx.AsyncClient, project: Project, query: str, **variables):
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=project.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_graphql_needs_a_credential(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401


async def test_nested_folders_and_tasks_page_without_duplicates(
    client: httpx.AsyncClient, project: Project
) -> None:
    folders = {}
    for i in range(5):
        fid = await create(client, project, "folder", name=f"f{i}", folderType="Asset")
        tid = await create(client, project, "task", name="work", taskType="Generic", folderId=fid)
        folders[fid] = tid
    seen, after = [], None
    while True:
        body = await gql(client, project, NESTED, p=project.name, first=2, after=after)
        conn = body["data"]["project"]["folders"]
        for edge in conn["edges"]:
            node = edge["node"]
            seen.append(node["id"])
            tasks = [t["node"] for t in node["tasks"]["edges"]]
            assert [t["id"] for t in tasks] == [folders[node["id"]]]
            assert node["path"] == "/" + node["name"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(folders) and len(seen) == len(set(seen))


async def test_nested_query_statement_count_does_not_grow_with_rows(
    client: httpx.AsyncClient, project: Project
) -> None:
    counts = []
    for batch in range(2):
        for i in range(3 * (batch + 1)):
            fid = await create(client, project, "folder", name=f"b{batch}x{i}", folderType="Asset")
            await create(client, project, "task", name="a", taskType="Generic", folderId=fid)
        body = await gql(client, project, NESTED, p=project.name)
        counts.append(body["extensions"]["sqlStatements"])
    # the project, then one statement per connection level: folders, their tasks
    assert counts[0] == counts[1] == 3


async def test_used_tags_lists_every_tag_on_the_projects_entities_once_in_order(
    client: httpx.AsyncClient, project: Project
) -> None:
    folder = await create(client, project, "folder", name="tagged", tags=["hero", "wip"])
    await create(
        client, project, "task", name="t", taskType="Generic", folderId=folder, tags=["wip", "b"]
    )
    await create(
        client, project, "product", name="p", productType="model", folderId=folder, tags=["a"]
    )
    body = await gql(
        client, project, "query Q($p: String!) { project(name: $p) { usedTags } }", p=project.name
    )
    assert body["data"]["project"]["usedTags"] == ["a", "b", "hero", "wip"]


async def test_bad_queries_are_graphql_errors(client: httpx.AsyncClient, project: Project) -> None:
    body = await gql(client, project, '{ project(name: "x") { nope } }')
    assert body["errors"] and "nope" in body["errors"][0]["message"]
    body = await gql(client, project, NESTED, p="no_such_project")
    assert body["errors"] and body["data"] is None
    body = await gql(client, project, NESTED, p=project.name, after="zz")
    assert "Invalid cursor" in body["errors"][0]["message"]


async def test_a_database_failure_is_told_without_its_sql_text(
    client: httpx.AsyncClient, project: Project, settings
) -> None:
    # A project whose tasks table is gone (a broken restore, say): the error names no table.
    await create(client, project, "folder", name="f", folderType="Asset")
    db = Postgres(settings.postgres_url)
    try:
        await db.execute(f'DROP TABLE "{project_schema(project.name)}".tasks CASCADE')
    finally:
        await db.close()
    body = await gql(client, project, NESTED, p=project.name)
    messages = [e["message"] for e in body["errors"]]
    assert messages and all("Internal error" in m for m in messages)
    assert not any("tasks" in m or "relation" in m for m in messages)


EVENTS = """query E($p: [String!], $first: Int, $after: String, $last: Int, $before: String) {
  events(projects: $p, topics: ["entity.folder.created"], first: $first, after: $after,
         last: $last, before: $before) {
    edges { node { id createdAt } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""


async def test_events_page_oldest_first_with_first_and_newest_first_with_last(
    client: httpx.AsyncClient, project: Project
) -> None:
    for i in range(5):
        await create(client, project, "folder", name=f"e{i}", folderType="Asset")

    async def walk(**page: int) -> list[str]:
        seen, cursor = [], None
        key, more = ("before", "hasPreviousPage") if "last" in page else ("after", "hasNextPage")
        while True:
            body = await gql(client, project, EVENTS, p=[project.name], **page, **{key: cursor})
            conn = body["data"]["events"]
            seen += [edge["node"]["createdAt"] + edge["node"]["id"] for edge in conn["edges"]]
            if not conn["pageInfo"][more]:
                return seen
            cursor = conn["pageInfo"]["endCursor"]

    oldest_first = await walk(first=2)
    newest_first = await walk(last=2)
    assert len(oldest_first) == 5 == len(set(oldest_first))
    assert oldest_first == sorted(oldest_first) and newest_first == oldest_first[::-1]
