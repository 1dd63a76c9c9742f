"""Big-studio benchmark: the whole nightly procedure, first run and steady run, side by side.

Fills a database of its own the way a studio's grows (setup first, then generate_series
straight into the tables): --projects projects of --entities entities each (folders, tasks,
products, versions), --thumbnails thumbnails, --links links and --activities activities per
project (a share of it garbage: entities deleted past the grace period, unreferenced old
thumbnails, dead links, unattached old files), --logs log rows over --log-days days, --events
events over --event-days days (eventRetentionDays --retention, some in depends_on chains) and
--sessions Redis sessions. Then, with the server running in a subprocess and one API client
(GET an entity, POST an event, one after the other) measuring, it runs `python -m maintenance`
twice: the first run (everything to do) and the steady run (the next night: little to do).
Prints each run's per-task durations and counts, total, peak RSS, and the client's p50/p99
idle, during each run and after. Needs only a local PostgreSQL and Redis:

    .venv/bin/python bench/studio.py [--projects 3] [--entities 300000] [--logs 2000000] ...

The defaults are the big studio of issue 13; --tiny is a few rows of each, for a smoke test.
AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The database, the Redis keys and the storage directory are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from ayon_server.auth.sessions import Session, session_key, user_index_key
from ayon_server.auth.users import create_user
from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.logs.partitions import ensure_partitions
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.projects.changes import Actor
from ayon_server.projects.models import ProjectPostModel
from ayon_server.projects.names import quoted_schema
from ayon_server.projects.store import create_project
from ayon_server.runtime import Runtime
from setup.__main__ import run_setup

ADMIN, PASSWORD = "bench_admin", "bench admin password"
GARBAGE = 0.06  # share of each kind of project data that is garbage
PAST_GRACE = timedelta(days=20)  # older than every grace period (activities: 10 days)


@dataclass
class Sizes:
    projects: int = 3
    entities: int = 300_000
    thumbnails: int = 50_000
    links: int = 50_000
    activities: int = 10_000
    logs: int = 2_000_000
    log_days: int = 30
    events: int = 1_000_000
    event_days: int = 365
    retention: int = 180
    sessions: int = 50_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def fill_project(conn: asyncpg.Connection, name: str, sizes: Sizes, storage: Path) -> None:
    """One project's rows; ids are md5 of a prefix and a counter, so they can be named later."""
    s = quoted_schema(name)
    folders = max(sizes.entities // 10, 2)
    tasks, products = 3 * folders, 2 * folders
    versions = max(sizes.entities - folders - tasks - products, 2)
    await conn.execute(
        f"""
        INSERT INTO {s}.folders (id, name, folder_type, path, status)
        SELECT md5('f' || i)::uuid, 'sh' || i, 'Shot', 'sh' || i, 'In progress'
        FROM generate_series(1, $1) AS i
        """,
        folders,
    )
    for table, prefix, count, kind in (
        ("tasks", "t", tasks, "task_type"),
        ("products", "p", products, "product_type"),
    ):
        await conn.execute(
            f"""
            INSERT INTO {s}.{table} (id, name, {kind}, folder_id, status)
            SELECT md5('{prefix}' || i)::uuid, '{prefix}' || ((i - 1) / $2), 'Compositing',
                   md5('f' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            count,
            folders,
        )
    referenced = min(round(sizes.thumbnails * (1 - GARBAGE)), versions)
    await conn.execute(
        f"""
        INSERT INTO {s}.thumbnails (id, mime, size, data, created_at, updated_at)
        SELECT md5('th' || i)::uuid, 'image/jpeg', 64, decode(repeat('ab', 64), 'hex'),
               now() - $2::interval, now() - $2::interval
        FROM generate_series(1, $1) AS i
        """,
        sizes.thumbnails,
        PAST_GRACE,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.versions (id, name, version, product_id, task_id, thumbnail_id, status)
        SELECT md5('v' || i)::uuid, 'v' || ((i - 1) / $2 + 1), (i - 1) / $2 + 1,
               md5('p' || (1 + (i - 1) % $2))::uuid, md5('t' || (1 + (i - 1) % $3))::uuid,
               CASE WHEN i <= $4 THEN md5('th' || i)::uuid END, 'In progress'
        FROM generate_series(1, $1) AS i
        """,
        versions,
        products,
        tasks,
        referenced,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.links (id, link_type, input_id, output_id)
        SELECT md5('l' || j)::uuid, 'reference|version|version',
               md5('v' || (1 + (j - 1) % $2))::uuid, md5('v' || (1 + j % $2))::uuid
        FROM generate_series(1, $1) AS j
        """,
        sizes.links,
        versions,
    )
    # Activities on versions, with their author; files on a fifth of them.
    await conn.execute(
        f"""
        INSERT INTO {s}.activities (id, activity_type, body)
        SELECT md5('a' || i)::uuid, 'comment', 'comment ' || i FROM generate_series(1, $1) AS i
        """,
        sizes.activities,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.activity_references
            (id, activity_id, reference_type, entity_type, entity_id, entity_name)
        SELECT md5('ro' || i)::uuid, md5('a' || i)::uuid, 'origin', 'version',
               md5('v' || (1 + (i - 1) % $2))::uuid, NULL
        FROM generate_series(1, $1) AS i
        UNION ALL
        SELECT md5('ra' || i)::uuid, md5('a' || i)::uuid, 'author', 'user', NULL, $3
        FROM generate_series(1, $1) AS i
        """,
        sizes.activities,
        versions,
        ADMIN,
    )
    files = max(sizes.activities // 5, 1)
    await conn.execute(
        f"""
        INSERT INTO {s}.files (id, activity_id, name, size, created_at, updated_at)
        SELECT md5('fi' || i)::uuid,
               CASE WHEN i > $2 THEN md5('a' || i)::uuid END, 'f' || i, 10,
               now() - $3::interval, now() - $3::interval
        FROM generate_series(1, $1) AS i
        """,
        files,
        round(files * GARBAGE),
        PAST_GRACE,
    )
    # The storage tree: 256 prefix directories holding bytes of the files (a few orphans).
    root = storage / "projects" / name / "files"
    old = time.time() - PAST_GRACE.total_seconds()
    for i in range(1, min(files, 512) + 1):
        file_id = uuid.UUID(bytes=bytes.fromhex(_md5(f"fi{i}")))
        for hex_id in (file_id.hex, file_id.hex[:2] + secrets.token_hex(15)):
            path = root / hex_id[:2] / hex_id
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 10)
            os.utime(path, (old, old))
    # Garbage made the way it arises: versions deleted (their activities' origins and links go
    # dead), long enough ago that the grace periods are over.
    gone = max(round(min(sizes.activities, versions) * GARBAGE), 1)
    await conn.execute(
        f"DELETE FROM {s}.versions WHERE id IN "
        "(SELECT md5('v' || i)::uuid FROM generate_series(1, $1) AS i)",
        gone,
    )
    await conn.execute(f"UPDATE {s}.gone_origins SET gone_at = now() - $1::interval", PAST_GRACE)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def fill(runtime: Runtime, sizes: Sizes, storage: Path) -> None:
    url = runtime.settings.postgres_url
    for number in range(1, sizes.projects + 1):
        await create_project(
            runtime.events,
            runtime.db,
            ProjectPostModel(name=f"studio{number}", code=f"st{number}"),
            Actor(user="bench", is_admin=True),
        )
    conn = await asyncpg.connect(url)
    try:
        for number in range(1, sizes.projects + 1):
            await fill_project(conn, f"studio{number}", sizes, storage)
        today = datetime.now(UTC).date()
        await ensure_partitions(
            conn, days_ahead=sizes.log_days + 3, today=today - timedelta(days=sizes.log_days)
        )
        await conn.execute(
            """
            INSERT INTO public.logs (created_at, level, message, module, context)
            SELECT now() - (i::float / $1) * make_interval(days => $2),
                   (ARRAY['debug','info','warning','error'])[1 + i % 4],
                   'message number ' || i, 'bench', jsonb_build_object('i', i)
            FROM generate_series(1, $1) AS i
            """,
            sizes.logs,
            sizes.log_days,
        )
        # Every 50th event depends on the next (older) one; every 97th is still pending.
        await conn.execute(
            """
            INSERT INTO public.events (id, hash, topic, sender, status, description, summary,
                                       created_at, updated_at, depends_on)
            SELECT md5('e' || i)::uuid, 'h' || i,
                   (ARRAY['entity.version.created', 'entity.task.status_changed',
                          'log.info'])[1 + i % 3], 'bench',
                   CASE WHEN i % 97 = 0 THEN 'pending' ELSE 'finished' END,
                   'event ' || i, jsonb_build_object('i', i),
                   now() - (i::float / $1) * make_interval(days => $2),
                   now() - (i::float / $1) * make_interval(days => $2),
                   CASE WHEN i % 50 = 0 AND i < $1 THEN md5('e' || (i + 1))::uuid END
            FROM generate_series(1, $1) AS i ORDER BY i DESC
            """,
            sizes.events,
            sizes.event_days,
        )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    # Sessions: live ones with their expiry, a few without one and long unused (garbage).
    client, prefix = runtime.redis.client, runtime.redis.prefix
    ttl = runtime.settings.session_ttl
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for number in range(sizes.sessions):
            token = secrets.token_hex(16)
            stale = number % round(1 / GARBAGE) == 0
            used = now - ttl - 60 if stale else now
            record = Session(token, ADMIN, used, used, {}).to_json()
            pipe.set(f"{prefix}:{session_key(token)}", record, ex=None if stale else ttl)
            pipe.sadd(f"{prefix}:{user_index_key(ADMIN)}", token)
        await pipe.execute()
    await save_config(runtime, {"eventRetentionDays": sizes.retention})
    await create_user(runtime.db, ADMIN, password=PASSWORD, data={"isAdmin": True})


def serve(settings_json: str, port: int) -> None:
    """The server process (no maintenance scheduler: the bench runs the procedure itself)."""
    import uvicorn

    from ayon_server.api.app import create_app

    settings = Settings.model_validate_json(settings_json)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AYON_")}
    env.update(
        AYON_POSTGRES_URL=settings.postgres_url,
        AYON_REDIS_URL=settings.redis_url,
        AYON_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        AYON_STORAGE_DIR=settings.storage_dir,
        AYON_LOG_LEVEL="warning",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    return env


def run_procedure(settings: Settings) -> tuple[float, int, int]:
    """`python -m maintenance` in a child process: (seconds, exit code, peak RSS in KiB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "maintenance"],
        env=environment(settings),
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, process.returncode, usage.ru_maxrss


class Client:
    """The concurrent API user: GET an entity, POST an event, one request after the other."""

    def __init__(self, http: httpx.AsyncClient, project: str, folder: str):
        self.http, self.url = http, f"/api/projects/{project}/folders/{folder}"
        self.latencies: list[float] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            for method, url, body in (
                ("GET", self.url, None),
                ("POST", "/api/events", {"topic": "bench.client", "description": "probe"}),
            ):
                started = time.perf_counter()
                response = await self.http.request(method, url, json=body)
                response.raise_for_status()
                self.latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)

    def take(self) -> list[float]:
        taken, self.latencies = self.latencies, []
        return taken


def quantiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies or [0.0])[0], (latencies or [0.0])[0]
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def last_run(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        raw = await conn.fetchval(
            "SELECT summary FROM public.events WHERE topic = $1 ORDER BY created_at DESC LIMIT 1",
            MAINTENANCE_TOPIC,
        )
    finally:
        await conn.close()
    return json.loads(raw) if isinstance(raw, str) else raw


def counts(result: dict) -> str:
    shown = {k: v for k, v in (result or {}).items() if isinstance(v, int) and v}
    return ", ".join(f"{k} {v:,}" for k, v in shown.items()) or "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, default in Sizes().__dict__.items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=default)
    parser.add_argument("--tiny", action="store_true", help="a few rows of each (smoke test)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds measured idle/after")
    args = parser.parse_args()
    sizes = Sizes(**{f: getattr(args, f) for f in Sizes().__dict__})
    if args.tiny:
        sizes = Sizes(1, 200, 50, 50, 50, 500, 10, 500, 30, 10, 50)

    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    run_id = secrets.token_hex(3)
    name = f"ayon_bench_studio_{run_id}"
    storage = Path(tempfile.mkdtemp(prefix="ayon_bench_studio_"))
    settings = Settings(
        postgres_url=with_database(server, name),
        redis_url=os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_key_prefix=f"ayonbench_{run_id}",
        storage_dir=str(storage),
        log_level="warning",
    )
    runtime = Runtime.create(settings)
    port = free_port()
    server_process = None
    try:
        started = time.perf_counter()
        await run_setup(settings)
        await fill(runtime, sizes, storage)
        print(f"filled in {time.perf_counter() - started:.1f}s: {sizes}")
        server_process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            settings.model_dump_json(),
            str(port),
            env=environment(settings),
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    response = await http.post(
                        "/api/auth/login", json={"name": ADMIN, "password": PASSWORD}
                    )
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.2)
            http.headers["Authorization"] = f"Bearer {response.json()['token']}"
            folder = uuid.UUID(_md5(f"f{max(sizes.entities // 10, 2)}")).hex
            client = Client(http, "studio1", folder)
            probe = asyncio.create_task(client.run())
            phases: list[tuple[str, list[float]]] = []
            await asyncio.sleep(args.settle)
            phases.append(("idle", client.take()))
            runs = []
            for label in ("first run", "steady run"):
                seconds, code, rss = await asyncio.to_thread(run_procedure, settings)
                phases.append((f"during the {label}", client.take()))
                runs.append((label, seconds, code, rss, await last_run(settings.postgres_url)))
            await asyncio.sleep(args.settle)
            phases.append(("after", client.take()))
            client.stop.set()
            await probe
    finally:
        if server_process is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                server_process.terminate()
            await server_process.wait()
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        async for key in runtime.redis.client.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            await runtime.redis.client.delete(key)
        await runtime.close()
        shutil.rmtree(storage, ignore_errors=True)

    first, steady = runs[0][4]["tasks"], runs[1][4]["tasks"]
    print(f"\n  {'task':<18}{'first run':>11}  {'counts':<44}{'steady run':>11}  counts")
    for a, b in zip(first, steady, strict=True):
        print(
            f"  {a['name']:<18}{a['durationMs'] / 1000:>10.2f}s  {counts(a['result'])[:44]:<44}"
            f"{b['durationMs'] / 1000:>10.2f}s  {counts(b['result'])[:60]}"
        )
    for label, seconds, code, rss, summary in runs:
        tasks_total = sum(t["durationMs"] for t in summary["tasks"]) / 1000
        status = {t["status"] for t in summary["tasks"]}
        print(
            f"  {label}: {seconds:.1f}s wall ({tasks_total:.1f}s in tasks), exit {code}, "
            f"peak RSS {rss / 1024:.0f} MiB, task statuses {sorted(status)}"
        )
    print("\n  API client (GET an entity, POST an event)   requests   p50 ms   p99 ms")
    for label, latencies in phases:
        p50, p99 = quantiles(latencies)
        print(f"  {label:<43}{len(latencies):>9}{p50:>9.2f}{p99:>9.2f}")
    if any(code != 0 for _, _, code, _, _ in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        asyncio.run(main())
