"""Link types and entity links: CRUD, validation of both ends, entity links."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ayon_server.runtime import Runtime
from tests.helpers.events import project_events
from tests.helpers.projects import Project, create, hierarchy
from tests.helpers.users import login, make_user


def url(project: Project, path: str) -> str:
    return f"/api/projects/{project.name}/{path}"


async def link_types(client: httpx.AsyncClient, project: Project) -> dict[str, dict[str, Any]]:
    response = await client.get(url(project, "links/types"), headers=project.headers)
    assert response.status_code == 200, response.text
    return {lt["name"]: lt for lt in response.json()["types"]}


async def put_link_type(
    client: httpx.AsyncClient, project: Project, name: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.put(
        url(project, f"links/types/{name}"), json=body or {}, headers=project.headers
    )


async def link(client: httpx.AsyncClient, project: Project, **body: Any) -> httpx.Response:
    return await client.post(url(project, "links"), json=body, headers=project.headers)


async def entity_links(
    client: httpx.AsyncClient, project: Project, entity_type: str, entity_id: str, **params: str
) -> httpx.Response:
    return await client.get(
        url(project, f"{entity_type}s/{entity_id}/links"), params=params, headers=project.headers
    )


def assert_error(response: httpx.Response, status: int, detail: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and detail in body["detail"], body


async def test_link_types_accept_their_data_flat_as_ayon_api_sends_it_or_under_data(
    client: httpx.AsyncClient, project: Project
) -> None:
    flat = await put_link_type(client, project, "uses|workfile|version", {"color": "#fff"})
    nested = await client.put(
        url(project, "links/types/depends%7Ctask%7Cproduct"),
        json={"data": {"style": "dashed"}},
        headers=project.headers,
    )

    assert flat.status_code == nested.status_code == 204
    types = await link_types(client, project)
    assert types["uses|workfile|version"] == {
        "name": "uses|workfile|version",
        "linkType": "uses",
        "inputType": "workfile",
        "outputType": "version",
        "data": {"color": "#fff"},
    }
    assert types["depends|task|product"]["data"] == {"style": "dashed"}
    assert "reference|version|version" in types  # the built-in anatomy's, untouched


async def test_putting_an_existing_link_type_replaces_its_data(
    client: httpx.AsyncClient, project: Project
) -> None:
    await put_link_type(client, project, "uses|workfile|version", {"color": "#fff"})

    again = await put_link_type(client, project, "uses|workfile|version", {"data": {"a": 1}})

    assert again.status_code == 204
    assert (await link_types(client, project))["uses|workfile|version"]["data"] == {"a": 1}


async def test_a_deleted_link_type_is_gone_and_deleting_it_again_is_404(
    client: httpx.AsyncClient, project: Project
) -> None:
    await put_link_type(client, project, "uses|workfile|version")

    deleted = await client.delete(
        url(project, "links/types/uses|workfile|version"), headers=project.headers
    )
    again = await client.delete(
        url(project, "links/types/uses|workfile|version"), headers=project.headers
    )

    assert deleted.status_code == 204
    assert "uses|workfile|version" not in await link_types(client, project)
    assert_error(again, 404, "Link type uses|workfile|version not found")


@pytest.mark.parametrize(
    "name",
    [
        "uses",
        "uses|folder",
        "uses|folder|shot",
        "uses|user|folder",
        "|folder|task",
        "a b|task|task",
    ],
)
async def test_a_link_type_name_must_be_a_type_and_two_entity_types(
    client: httpx.AsyncClient, project: Project, name: str
) -> None:
    response = await put_link_type(client, project, name)

    assert_error(response, 400, "Invalid link type name")


async def test_link_type_data_under_data_must_be_an_object(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await put_link_type(client, project, "uses|task|task", {"data": [1, 2]})

    assert_error(response, 400, "must be an object")


async def test_link_types_are_changed_by_managers_and_read_by_any_logged_in_user(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    artist = await login(client, await make_user(runtime))

    put = await client.put(url(project, "links/types/uses|task|task"), json={}, headers=artist)
    delete = await client.delete(
        url(project, "links/types/reference|version|version"), headers=artist
    )
    listed = await client.get(url(project, "links/types"), headers=artist)
    anonymous = await client.get(url(project, "links/types"))

    assert_error(put, 403)
    assert_error(delete, 403)
    assert listed.status_code == 200
    assert_error(anonymous, 401)


async def test_link_types_of_an_unknown_project_are_404(
    client: httpx.AsyncClient, project: Project
) -> None:
    listed = await client.get("/api/projects/nosuchproject/links/types", headers=project.headers)
    put = await client.put(
        "/api/projects/nosuchproject/links/types/uses|task|task", json={}, headers=project.headers
    )

    assert_error(listed, 404, "Project nosuchproject not found")
    assert_error(put, 404, "Project nosuchproject not found")


async def test_a_link_is_created_seen_from_both_ends_and_deleted(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    await put_link_type(client, project, "uses|workfile|version")

    created = await link(
        client,
        project,
        input=ids["workfile"],
        output=ids["version"],
        linkType="uses|workfile|version",
        name="scene uses model",
        data={"weight": 2},
    )

    assert created.status_code == 200, created.text
    link_id = created.json()["id"]
    assert created.json() == {"id": link_id} and uuid.UUID(hex=link_id)
    (outgoing,) = (await entity_links(client, project, "workfile", ids["workfile"])).json()["links"]
    assert outgoing == {
        "id": link_id,
        "name": "scene uses model",
        "linkType": "uses|workfile|version",
        "direction": "out",
        "entityId": ids["version"],
        "entityType": "version",
        "author": project.user,
        "data": {"weight": 2},
        "createdAt": outgoing["createdAt"],
    }
    (incoming,) = (await entity_links(client, project, "version", ids["version"])).json()["links"]
    assert incoming["id"] == link_id and incoming["direction"] == "in"
    assert (incoming["entityId"], incoming["entityType"]) == (ids["workfile"], "workfile")
    only_out = await entity_links(client, project, "version", ids["version"], direction="out")
    assert only_out.json() == {"links": []}
    (event,) = await project_events(runtime, "link.created", project.name)
    assert event["user_name"] == project.user and event["summary"]["id"] == link_id

    deleted = await client.delete(url(project, f"links/{link_id}"), headers=project.headers)
    again = await client.delete(url(project, f"links/{link_id}"), headers=project.headers)

    assert deleted.status_code == 204
    assert_error(again, 404, f"Link {link_id} not found")
    assert (await entity_links(client, project, "version", ids["version"])).json() == {"links": []}
    (event,) = await project_events(runtime, "link.deleted", project.name)
    assert event["summary"]["id"] == link_id


async def test_the_short_link_type_is_completed_by_the_entity_types(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = await hierarchy(client, project)
    other_version = await create(client, project, "version", version=2, productId=ids["product"])
    link_id = uuid.uuid4().hex

    created = await link(
        client,
        project,
        id=link_id,
        input=ids["version"],
        output=other_version,
        linkType="reference",
    )

    assert created.status_code == 200 and created.json() == {"id": link_id}
    (found,) = (await entity_links(client, project, "version", other_version)).json()["links"]
    assert found["linkType"] == "reference|version|version" and found["direction"] == "in"


async def test_the_deprecated_link_field_names_the_link_type_as_in_ayon(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = await hierarchy(client, project)
    chair = await create(client, project, "folder", name="chair", folderType="Asset")

    created = await link(
        client, project, input=ids["folder"], output=chair, link="breakdown|folder|folder"
    )

    assert created.status_code == 200, created.text


@pytest.mark.parametrize(
    ("link_type", "detail"),
    [
        ("nosuch|workfile|version", "Link type nosuch|workfile|version does not exist"),
        ("nosuch", "Link type nosuch|workfile|version does not exist"),
        ("uses|workfile", "Invalid link type name"),
        ("uses|workfile|shot", "Invalid link type name"),
        ("uses|task|version", "needs a task as input"),
        ("uses|workfile|product", "needs a product as output"),
        ("bad name", "Invalid link type"),
    ],
)
async def test_a_link_needs_an_existing_link_type_matching_its_entities(
    client: httpx.AsyncClient, project: Project, link_type: str, detail: str
) -> None:
    ids = await hierarchy(client, project)
    for name in ("uses|workfile|version", "uses|task|version", "uses|workfile|product"):
        await put_link_type(client, project, name)

    response = await link(
        client, project, input=ids["workfile"], output=ids["version"], linkType=link_type
    )

    assert_error(response, 400, detail)


@pytest.mark.parametrize("end", ["input", "output"])
async def test_a_link_to_a_missing_entity_is_404_once_its_link_type_exists(
    client: httpx.AsyncClient, project: Project, end: str
) -> None:
    ids = await hierarchy(client, project)
    ends = {"input": ids["version"], "output": ids["product"], end: uuid.uuid4().hex}

    response = await link(client, project, linkType="uses|version|product", **ends)

    await put_link_type(client, project, "uses|version|product")
    after_type = await link(client, project, linkType="uses|version|product", **ends)
    assert_error(response, 400, "does not exist")
    assert_error(after_type, 404, f"{end.capitalize()} entity {ends[end]} not found")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"input": "zz", "output": "a" * 32, "linkType": "reference"}, "validation"),
        ({"input": "a" * 32, "output": "b" * 32}, "validation"),
        ({"input": "a" * 32, "output": "a" * 32, "linkType": "reference"}, "itself"),
    ],
)
async def test_malformed_links_are_400(
    client: httpx.AsyncClient, project: Project, body: dict[str, Any], detail: str
) -> None:
    response = await client.post(url(project, "links"), json=body, headers=project.headers)

    assert_error(response, 400, detail)


async def test_the_same_link_twice_or_a_reused_id_is_a_conflict(
    client: httpx.AsyncClient, project: Project
) -> None:
    ids = await hierarchy(client, project)
    other_version = await create(client, project, "version", version=2, productId=ids["product"])
    ends = {"input": ids["version"], "output": other_version}
    first = await link(client, project, linkType="reference", **ends)

    same = await link(client, project, linkType="reference|version|version", **ends)
    reused = await link(client, project, id=first.json()["id"], linkType="generative", **ends)

    assert_error(same, 409, "already exists")
    assert_error(reused, 409, f"Link {first.json()['id']} already exists")


async def test_bulk_creates_every_link_in_one_transaction_or_none(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    await put_link_type(client, project, "uses|workfile|version")
    await put_link_type(client, project, "uses|task|product")
    good = [
        {"input": ids["workfile"], "output": ids["version"], "linkType": "uses|workfile|version"},
        {"input": ids["task"], "output": ids["product"], "linkType": "uses"},
    ]
    bad = {"input": ids["task"], "output": uuid.uuid4().hex, "linkType": "uses|task|product"}

    failed = await client.post(
        url(project, "links/bulk"), json={"links": [*good, bad]}, headers=project.headers
    )
    created = await client.post(
        url(project, "links/bulk"), json={"links": good}, headers=project.headers
    )

    assert_error(failed, 404)
    assert created.status_code == 200, created.text
    assert [
        {key: value for key, value in item.items() if key != "id"}
        for item in created.json()["created"]
    ] == [{**good[0]}, {**good[1], "linkType": "uses|task|product"}]
    task_links = (await entity_links(client, project, "task", ids["task"])).json()["links"]
    assert [item["id"] for item in task_links] == [created.json()["created"][1]["id"]]
    (event,) = await project_events(runtime, "links.created", project.name)
    assert event["summary"]["links"] == [item["id"] for item in created.json()["created"]]


async def test_links_are_written_by_logged_in_users_but_not_guests_or_anonymous(
    client: httpx.AsyncClient, runtime: Runtime, project: Project
) -> None:
    ids = await hierarchy(client, project)
    other_version = await create(client, project, "version", version=2, productId=ids["product"])
    body = {"input": ids["version"], "output": other_version, "linkType": "reference"}
    artist = await login(client, await make_user(runtime))
    guest = await login(client, await make_user(runtime, isGuest=True))

    by_artist = await client.post(url(project, "links"), json=body, headers=artist)
    by_guest = await client.post(url(project, "links"), json=body, headers=guest)
    anonymous = await client.post(url(project, "links"), json=body)

    assert by_artist.status_code == 200
    assert_error(by_guest, 403)
    assert_error(anonymous, 401)


async def test_links_of_an_unknown_entity_or_project_are_404(
    client: httpx.AsyncClient, project: Project
) -> None:
    missing = uuid.uuid4().hex

    of_entity = await entity_links(client, project, "folder", missing)
    of_project = await client.get(
        f"/api/projects/nosuchproject/folders/{missing}/links", headers=project.headers
    )
    bad_id = await entity_links(client, project, "folder", "not-an-id")

    assert_error(of_entity, 404, f"Folder {missing} not found")
    assert_error(of_project, 404, "Project nosuchproject not found")
    assert_error(bad_id, 400)
