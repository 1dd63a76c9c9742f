"""GraphQL benchmark: the official client's get_folders and a nested folders->tasks query on a
big project, against the per-entity REST getters for the same data.

Fills a database of its own with one project created the way the server creates one
(ayon_server.projects.store.create_project), by default 100,000 folders (100 sequences of
shots), 300,000 tasks, 100,000 products and 300,000 versions (generate_series), then serves it
in this process (uvicorn) and measures through the unmodified ayon-python-api client:

  1. get_folders(project) with the client's default fields (every folder, pages of 300);
  2. a nested query, folders (pages of 300) -> their tasks, through query_graphql;
  3. the same data through REST: get_rest_folder per folder and get_rest_task per task, on a
     sample of --rest-sample folders (and their tasks), extrapolated to the whole project.

For each it prints the wall time, HTTP requests, SQL statements the server sent and statements
per request. Statements are counted by wrapping asyncpg's Connection in the serving process,
from the end of the client's login to the end of the measurement: BEGIN/COMMIT, each request's
authentication and what the background workers ran meanwhile included, the pool's connection
reset on release not. For GraphQL also the statements the responses report
(extensions.sqlStatements: the query's own).

    .venv/bin/python bench/graphql_client.py [--folders 100000] [--tasks 300000]
        [--products 100000] [--versions 300000] [--rest-sample 2000]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The database is dropped at the end. AYON's own server was not run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import uvicorn
from ayon_api.server_api import ServerAPI

from ayon_server.api.app import create_app
from ayon_server.auth.users import create_user
from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.projects.changes import Actor
from ayon_server.projects.models import ProjectPostModel
from ayon_server.projects.names import quoted_schema
from ayon_server.projects.store import create_project
from ayon_server.runtime import Runtime
from setup.__main__ import run_setup

PROJECT = "bench_graphql"
PASSWORD = "bench password 1"
NESTED = """query Nested($p: String!, $after: String) { project(name: $p) {
  folders(first: 300, after: $after) { edges { node { id name path
    tasks { edges { node { id name taskType folderId } } } } }
  pageInfo { hasNextPage endCursor } } } }"""


class StatementCounter:
    """Counts what this process sends to PostgreSQL: asyncpg's one entry point for statements
    with arguments (_execute) and execute() without them (BEGIN, COMMIT, ...)."""

    def __init__(self) -> None:
        self.count = 0
        original_execute = asyncpg.connection.Connection._execute
        original_plain = asyncpg.connection.Connection.execute
        counter = self

        async def _execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return await original_execute(self, *args, **kwargs)

        async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if not args and "RESET ALL" not in query:  # not the pool's reset on release
                counter.count += 1
            return await original_plain(self, query, *args, **kwargs)

        asyncpg.connection.Connection._execute = _execute  # type: ignore[method-assign]
        asyncpg.connection.Connection.execute = execute  # type: ignore[method-assign]


class CountingClient(ServerAPI):
    """The official client, counting its requests and the statements GraphQL reports."""

    requests = 0
    reported = 0

    def _do_rest_request(self, *args: Any, **kwargs: Any) -> Any:
        response = super()._do_rest_request(*args, **kwargs)
        self.requests += 1
        try:
            self.reported += (response.data or {}).get("extensions", {}).get("sqlStatements", 0)
        except AttributeError:
            pass
        return response


@dataclass
class Result:
    label: str
    seconds: float
    requests: int
    statements: int
    reported: int | None
    items: int

    def show(self, scale: float = 1.0) -> str:
        per = self.statements / max(self.requests, 1)
        line = (
            f"{self.label}: {round(self.items * scale):,} items in {self.seconds * scale:.2f}s, "
            f"{round(self.requests * scale):,} requests, {round(self.statements * scale):,} SQL "
            f"statements ({per:.1f} per request)"
        )
        if self.reported is not None:
            reported = self.reported / max(self.requests, 1)
            line += f"; responses report {self.reported:,} ({reported:.1f} per request)"
        return line


async def fill(url: str, folders: int, tasks: int, products: int, versions: int) -> None:
    s = quoted_schema(PROJECT)
    sequences = max(folders // 1000, 1)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"""
            INSERT INTO {s}.folders (id, name, folder_type, parent_id, path, status, attrib)
            SELECT md5('f' || i)::uuid,
                   CASE WHEN i <= $2 THEN 'sq' || i ELSE 'sh' || i END,
                   CASE WHEN i <= $2 THEN 'Sequence' ELSE 'Shot' END,
                   CASE WHEN i <= $2 THEN NULL ELSE md5('f' || (1 + (i - 1) % $2))::uuid END,
                   CASE WHEN i <= $2 THEN 'sq' || i
                        ELSE 'sq' || (1 + (i - 1) % $2) || '/sh' || i END,
                   'In progress',
                   CASE WHEN i <= $2 THEN '{{"fps": 24}}'::jsonb ELSE '{{}}'::jsonb END
            FROM generate_series(1, $1) AS i
            """,
            folders,
            sequences,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.tasks (id, name, task_type, folder_id, status)
            SELECT md5('t' || i)::uuid, 'task' || ((i - 1) / $2), 'Compositing',
                   md5('f' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            tasks,
            folders,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.products (id, name, product_type, folder_id, status)
            SELECT md5('p' || i)::uuid, 'render' || ((i - 1) / $2), 'render',
                   md5('f' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            products,
            folders,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.versions (id, name, version, product_id, status)
            SELECT md5('v' || i)::uuid, 'v' || lpad(((i - 1) / $2 + 1)::text, 3, '0'),
                   (i - 1) / $2 + 1, md5('p' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            versions,
            products,
        )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int) -> None:
    """--serve: the app on `port`, counting statements; the count is printed on SIGUSR1 (the
    parent's baseline after its login) and at exit."""
    counter = StatementCounter()
    signal.signal(signal.SIGUSR1, lambda *_: print(f"statements {counter.count}", flush=True))
    settings = Settings()
    app = create_app(settings, run_maintenance=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it stopped on
        pass
    finally:
        print(f"statements {counter.count}", flush=True)


def measure(
    label: str, settings: Settings, work: Callable[[CountingClient], int], graphql: bool
) -> Result:
    """`work` through a fresh client against a fresh serving process."""
    port = free_port()
    env = {
        **os.environ,
        "AYON_POSTGRES_URL": settings.postgres_url,
        "AYON_REDIS_URL": settings.redis_url,
        "AYON_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "AYON_LOG_LEVEL": "warning",
    }
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        client = CountingClient(f"http://127.0.0.1:{port}")
        for _ in range(600):
            if child.poll() is not None:
                raise SystemExit("the serving process exited")
            try:
                client.login("bench", PASSWORD)
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
        else:
            raise SystemExit("the serving process did not answer")
        assert child.stdout is not None
        child.send_signal(signal.SIGUSR1)
        baseline = int(child.stdout.readline().strip().rsplit(" ", 1)[-1])
        client.requests = client.reported = 0
        started = time.perf_counter()
        items = work(client)
        seconds = time.perf_counter() - started
        requests, reported = client.requests, client.reported
    finally:
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=60)
    statements = int(out.strip().rsplit(" ", 1)[-1]) - baseline
    return Result(label, seconds, requests, statements, reported if graphql else None, items)


def nested_query(client: CountingClient) -> tuple[int, list[str], dict[str, list[str]]]:
    """Every folder with its tasks, page by page; (items, folder ids, task ids by folder)."""
    after, items, folder_ids, tasks = None, 0, [], {}
    while True:
        response = client.query_graphql(NESTED, {"p": PROJECT, "after": after})
        if response.errors:
            raise SystemExit(f"nested query failed: {response.errors}")
        connection = response.data["data"]["project"]["folders"]
        for edge in connection["edges"]:
            node = edge["node"]
            folder_ids.append(node["id"])
            tasks[node["id"]] = [t["node"]["id"] for t in node["tasks"]["edges"]]
            items += 1 + len(tasks[node["id"]])
        if not connection["pageInfo"]["hasNextPage"]:
            return items, folder_ids, tasks
        after = connection["pageInfo"]["endCursor"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=300_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=300_000)
    parser.add_argument("--rest-sample", type=int, default=2_000, help="folders read by REST")
    args = parser.parse_args()

    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    run_id = secrets.token_hex(3)
    database = f"ayon_bench_graphql_{run_id}"
    settings = Settings(
        postgres_url=with_database(server, database),
        redis_url=redis_url,
        redis_key_prefix=f"ayonbench_{run_id}",
        log_level="warning",
    )
    runtime: Runtime | None = None
    try:
        started = time.perf_counter()
        await run_setup(settings)
        runtime = Runtime.create(settings)
        await create_project(
            runtime.events,
            runtime.db,
            ProjectPostModel(name=PROJECT, code="bench"),
            Actor(user="bench", is_admin=True),
        )
        await fill(settings.postgres_url, args.folders, args.tasks, args.products, args.versions)
        await create_user(runtime.db, "bench", password=PASSWORD, data={"isManager": True})
        print(
            f"filled {args.folders:,} folders, {args.tasks:,} tasks, {args.products:,} products, "
            f"{args.versions:,} versions ({time.perf_counter() - started:.1f}s)"
        )

        folders = measure(
            "get_folders(project), default fields",
            settings,
            lambda client: sum(1 for _ in client.get_folders(PROJECT)),
            graphql=True,
        )
        print(folders.show())
        holder: dict[str, Any] = {}

        def nested(client: CountingClient) -> int:
            items, holder["folders"], holder["tasks"] = nested_query(client)
            return items

        tree = measure("nested folders -> tasks", settings, nested, graphql=True)
        print(tree.show())
        sample = holder["folders"][: args.rest_sample]

        def rest(client: CountingClient) -> int:
            items = 0
            for folder_id in sample:
                assert client.get_rest_folder(PROJECT, folder_id) is not None
                items += 1
                for task_id in holder["tasks"][folder_id]:
                    assert client.get_rest_task(PROJECT, task_id) is not None
                    items += 1
            return items

        label = f"REST getters, {len(sample):,} folders and their tasks"
        by_id = measure(label, settings, rest, graphql=False)
        print(by_id.show())
        scale = len(holder["folders"]) / max(len(sample), 1)
        by_id.label = "  extrapolated to every folder and its tasks"
        print(by_id.show(scale))
        print(
            f"  nested GraphQL vs REST getters for the same data: "
            f"{by_id.seconds * scale / tree.seconds:.0f}x faster, "
            f"{by_id.statements * scale / max(tree.statements, 1):.0f}x fewer statements"
        )
    finally:
        if runtime is not None:
            await runtime.close()
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        asyncio.run(main())
