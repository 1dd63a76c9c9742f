"""Project clean-up benchmark: clean_thumbnails, clean_links and clean_dead_links at scale.

Fills three databases of its own, each with one project created the way the server creates
one (ayon_server.projects.store.create_project, so the schema is the real template):
  high:  by default 1,000,000 entities (folders, tasks, products, versions in a tree), 200,000
         thumbnails and 200,000 links, 20% of the thumbnails and links garbage (old thumbnails
         nothing refers to; links of a link type deleted with plain SQL; links whose input or
         output version was deleted with plain SQL);
  low:   the same totals with 2% garbage (10x less garbage, same total);
  small: a tenth of the totals with 20% garbage (the same garbage as low, 10x less total).
Then each task runs on each database while a concurrent client reads entities by id as fast as
it can. Prints durations, rows removed, the client's p50/p99 latency during the task and idle,
and two ratios of durations: high/low (about 10x when the cost follows the garbage) and
low/small (about 10x when it follows the total), with what they say about the task, and the
duration of a second run on high that finds nothing left (the part that is not the garbage).
Needs only a local PostgreSQL and Redis:

    .venv/bin/python bench/domain_cleanup.py [--entities 1000000] [--thumbnails 200000]
        [--links 200000] [--garbage 0.2]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.projects.changes import Actor
from ayon_server.projects.models import ProjectPostModel
from ayon_server.projects.names import quoted_schema
from ayon_server.projects.store import create_project
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from setup.__main__ import run_setup

PROJECT = "bench_cleanup"
TASKS = ("clean_thumbnails", "clean_links", "clean_dead_links")
DELETED_TYPE = "obsolete|version|version"
PROBE_IDS = 2000  # per entity table
GROWTH = 10  # the factor between the variants


@dataclass(frozen=True)
class Sizes:
    """Row counts of one filled project; garbage counts are part of the totals."""

    entities: int
    thumbnails: int
    links: int
    garbage: float

    @property
    def folders(self) -> int:
        return max(self.entities // 10, 1)

    @property
    def tasks(self) -> int:
        return 3 * self.folders

    @property
    def products(self) -> int:
        return 2 * self.folders

    @property
    def versions(self) -> int:
        return self.entities - self.folders - self.tasks - self.products

    @property
    def garbage_thumbnails(self) -> int:
        return round(self.thumbnails * self.garbage)

    @property
    def garbage_type_links(self) -> int:
        return round(self.links * self.garbage) // 3

    @property
    def dead_input_links(self) -> int:
        return round(self.links * self.garbage) // 3

    @property
    def dead_output_links(self) -> int:
        return round(self.links * self.garbage) - 2 * (round(self.links * self.garbage) // 3)

    @property
    def garbage_links(self) -> int:
        return self.garbage_type_links + self.dead_input_links + self.dead_output_links

    def check(self) -> None:
        if self.versions < 2 or self.thumbnails - self.garbage_thumbnails > self.versions:
            raise SystemExit("--entities too small: every referenced thumbnail needs a version")


@dataclass
class Measurement:
    label: str
    seconds: float
    removed: int
    p50_ms: float
    p99_ms: float
    probes: int


def det_id(prefix: str, i: int) -> uuid.UUID:
    """The id SQL's md5(prefix || i)::uuid gives row i, so the probe can pick real rows."""
    return uuid.UUID(hashlib.md5(f"{prefix}{i}".encode()).hexdigest())


async def create(runtime: Runtime) -> None:
    """The project through the server's own code path: row, template schema, link types."""
    await create_project(
        runtime.events,
        runtime.db,
        ProjectPostModel(name=PROJECT, code="bench"),
        Actor(user="bench", is_admin=True),
    )


async def fill(url: str, sizes: Sizes) -> None:
    """Deterministic rows (ids are md5 of a prefix and a counter); garbage made for real."""
    s = quoted_schema(PROJECT)
    conn = await asyncpg.connect(url)
    try:
        folders, roots = sizes.folders, max(sizes.folders // 1000, 1)
        await conn.execute(
            f"""
            INSERT INTO {s}.folders (id, name, folder_type, parent_id, path, status)
            SELECT md5('f' || i)::uuid,
                   CASE WHEN i <= $2 THEN 'sq' || i ELSE 'sh' || i END,
                   CASE WHEN i <= $2 THEN 'Sequence' ELSE 'Shot' END,
                   CASE WHEN i <= $2 THEN NULL ELSE md5('f' || (1 + (i - 1) % $2))::uuid END,
                   CASE WHEN i <= $2 THEN 'sq' || i
                        ELSE 'sq' || (1 + (i - 1) % $2) || '/sh' || i END,
                   'In progress'
            FROM generate_series(1, $1) AS i
            """,
            folders,
            roots,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.tasks (id, name, task_type, folder_id, status)
            SELECT md5('t' || i)::uuid, 'task' || ((i - 1) / $2), 'Compositing',
                   md5('f' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            sizes.tasks,
            folders,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.products (id, name, product_type, folder_id, status)
            SELECT md5('p' || i)::uuid, 'render' || ((i - 1) / $2), 'render',
                   md5('f' || (1 + (i - 1) % $2))::uuid, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            sizes.products,
            folders,
        )
        # Version i shows thumbnail i for the referenced ones; the rest of them are garbage.
        await conn.execute(
            f"""
            INSERT INTO {s}.versions (id, name, version, product_id, task_id, thumbnail_id,
                                      status)
            SELECT md5('v' || i)::uuid, 'v' || lpad(((i - 1) / $2 + 1)::text, 3, '0'),
                   (i - 1) / $2 + 1, md5('p' || (1 + (i - 1) % $2))::uuid,
                   md5('t' || (1 + (i - 1) % $3))::uuid,
                   CASE WHEN i <= $4 THEN md5('th' || i)::uuid END, 'In progress'
            FROM generate_series(1, $1) AS i
            """,
            sizes.versions,
            sizes.products,
            sizes.tasks,
            sizes.thumbnails - sizes.garbage_thumbnails,
        )
        await conn.execute(
            f"""
            INSERT INTO {s}.thumbnails (id, mime, size, data, created_at, updated_at)
            SELECT md5('th' || i)::uuid, 'image/jpeg', 256, decode(repeat('ab', 256), 'hex'),
                   now() - interval '30 days', now() - interval '30 days'
            FROM generate_series(1, $1) AS i
            """,
            sizes.thumbnails,
        )
        await fill_links(conn, s, sizes)
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def fill_links(conn: asyncpg.Connection, s: str, sizes: Sizes) -> None:
    """Live links between versions, then the three kinds of garbage, made the way it arises."""
    versions = sizes.versions
    # Pair j: version j -> a later one, unique per (j) even when there are more links than
    # versions (the step grows each time j wraps around).
    pair = "md5('v' || (1 + (j - 1) % $2))::uuid, md5('v' || (1 + (j + (j - 1) / $2) % $2))::uuid"
    await conn.execute(
        f"""
        INSERT INTO {s}.links (id, link_type, input_id, output_id)
        SELECT md5('l' || j)::uuid,
               CASE WHEN j % 2 = 0 THEN 'generative|version|version'
                    ELSE 'reference|version|version' END,
               {pair}
        FROM generate_series(1, $1) AS j
        """,
        sizes.links - sizes.garbage_links,
        versions,
    )
    # Links of a type that is then deleted, as PATCH /api/projects does (plain DELETE).
    await conn.execute(
        f"INSERT INTO {s}.link_types (name, link_type, input_type, output_type) "
        "VALUES ($1, 'obsolete', 'version', 'version')",
        DELETED_TYPE,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.links (id, link_type, input_id, output_id)
        SELECT md5('lt' || j)::uuid, $3, {pair}
        FROM generate_series(1, $1) AS j
        """,
        sizes.garbage_type_links,
        versions,
        DELETED_TYPE,
    )
    await conn.execute(f"DELETE FROM {s}.link_types WHERE name = $1", DELETED_TYPE)
    # Doomed versions (under their own products), linked as input or output, then deleted.
    doomed = sizes.dead_input_links + sizes.dead_output_links
    doomed_products = max(-(-doomed // 100), 1)
    await conn.execute(
        f"""
        INSERT INTO {s}.products (id, name, product_type, folder_id, status)
        SELECT md5('dp' || i)::uuid, 'doomed' || i, 'render', md5('f1')::uuid, 'In progress'
        FROM generate_series(1, $1) AS i
        """,
        doomed_products,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.versions (id, name, version, product_id, status)
        SELECT md5('dv' || i)::uuid, 'v' || ((i - 1) / $2 + 1), (i - 1) / $2 + 1,
               md5('dp' || (1 + (i - 1) % $2))::uuid, 'In progress'
        FROM generate_series(1, $1) AS i
        """,
        doomed,
        doomed_products,
    )
    await conn.execute(
        f"""
        INSERT INTO {s}.links (id, link_type, input_id, output_id)
        SELECT md5('ld' || j)::uuid, 'reference|version|version',
               CASE WHEN j <= $2 THEN md5('dv' || j)::uuid
                    ELSE md5('v' || (1 + (j - 1) % $3))::uuid END,
               CASE WHEN j <= $2 THEN md5('v' || (1 + (j - 1) % $3))::uuid
                    ELSE md5('dv' || j)::uuid END
        FROM generate_series(1, $1) AS j
        """,
        doomed,
        sizes.dead_input_links,
        versions,
    )
    await conn.execute(f"DELETE FROM {s}.products WHERE name LIKE 'doomed%'")


async def probe(
    url: str, ids: list[tuple[str, uuid.UUID]], stop: asyncio.Event, latencies: list[float]
) -> None:
    """A small client reading one entity by id (a random table, a random row) at a time."""
    s = quoted_schema(PROJECT)
    conn = await asyncpg.connect(url)
    rng = random.Random(7)
    try:
        while not stop.is_set():
            table, entity_id = rng.choice(ids)
            started = time.perf_counter()
            row = await conn.fetchrow(f"SELECT * FROM {s}.{table} WHERE id = $1", entity_id)
            latencies.append((time.perf_counter() - started) * 1000)
            if row is None:
                raise RuntimeError(f"probe: {table} {entity_id} is missing")
            await asyncio.sleep(0.002)
    finally:
        await conn.close()


def probe_ids(sizes: Sizes) -> list[tuple[str, uuid.UUID]]:
    rng = random.Random(42)
    counts = {
        "folders": ("f", sizes.folders),
        "tasks": ("t", sizes.tasks),
        "products": ("p", sizes.products),
        "versions": ("v", sizes.versions),
    }
    return [
        (table, det_id(prefix, rng.randint(1, n)))
        for table, (prefix, n) in counts.items()
        for _ in range(PROBE_IDS)
    ]


async def measure(
    label: str, url: str, ids: list[tuple[str, uuid.UUID]], work: Callable[[], Awaitable[int]]
) -> Measurement:
    latencies: list[float] = []
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(url, ids, stop, latencies))
    await asyncio.sleep(0.5)  # the probe is warm before the work starts
    latencies.clear()
    started = time.perf_counter()
    removed = await work()
    seconds = time.perf_counter() - started
    stop.set()
    await prober
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return Measurement(label, seconds, removed, cuts[49], cuts[98], len(latencies))


async def idle(seconds: float = 3.0) -> int:
    await asyncio.sleep(seconds)
    return 0


async def task_runner(runtime: Runtime, name: str) -> int:
    result = await MaintenanceRunner(runtime).run([name], trigger="cli")
    task = result.tasks[0]
    if task.status != "finished":
        raise RuntimeError(f"{name} ended {task.status}: {task.error}")
    return int(task.result.get("deleted", 0))


async def leftovers(url: str) -> dict[str, int]:
    """Garbage still there after the runs: all three must be 0."""
    s = quoted_schema(PROJECT)
    conn = await asyncpg.connect(url)
    try:
        return {
            "thumbnails": await conn.fetchval(
                f"SELECT count(*) FROM {s}.thumbnails t WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.versions v WHERE v.thumbnail_id = t.id)"
            ),
            "deleted-type links": await conn.fetchval(
                f"SELECT count(*) FROM {s}.links l WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.link_types t WHERE t.name = l.link_type)"
            ),
            "dead links": await conn.fetchval(
                f"SELECT count(*) FROM {s}.links l WHERE NOT EXISTS "
                f"(SELECT 1 FROM {s}.versions v WHERE v.id = l.input_id) OR NOT EXISTS "
                f"(SELECT 1 FROM {s}.versions v WHERE v.id = l.output_id)"
            ),
        }
    finally:
        await conn.close()


def verdict(garbage_ratio: float, total_ratio: float) -> str:
    """What a task's cost follows, from 10x the garbage and 10x the total (each alone).

    A ratio above the geometric middle of 1x and 10x counts as growing, above 2x as partly.
    """
    strong, partly = GROWTH**0.5, 2.0
    if garbage_ratio >= strong and total_ratio >= strong:
        return "cost grows with both the garbage and the total"
    if garbage_ratio >= strong:
        tail = "partly with the total too" if total_ratio >= partly else "not with the total"
        return f"cost grows with the garbage, {tail}"
    if total_ratio >= strong:
        tail = "partly with the garbage too" if garbage_ratio >= partly else "not with the garbage"
        return f"cost grows with the TOTAL, {tail}"
    return "neither dominates: fixed costs outweigh both at these sizes"


def report(
    task: str, idles: list[Measurement], runs: dict[str, Measurement], rerun: Measurement
) -> None:
    print(f"\n{task}")
    print(f"  {'run':<44}{'seconds':>9}{'removed':>9}{'p50 ms':>9}{'p99 ms':>9}{'probes':>8}")
    for m in [*idles, *runs.values(), rerun]:
        print(
            f"  {m.label:<44}{m.seconds:>9.2f}{m.removed:>9,}{m.p50_ms:>9.2f}"
            f"{m.p99_ms:>9.2f}{m.probes:>8}"
        )
    garbage_ratio = runs["high"].seconds / max(runs["low"].seconds, 1e-9)
    total_ratio = runs["low"].seconds / max(runs["small"].seconds, 1e-9)
    print(
        f"  duration ratio, same total, {GROWTH}x the garbage (high/low):  {garbage_ratio:6.2f}x\n"
        f"  duration ratio, same garbage, {GROWTH}x the total (low/small): {total_ratio:6.2f}x\n"
        f"  -> {verdict(garbage_ratio, total_ratio)}\n"
        f"  a run that finds nothing (high, again) still takes {rerun.seconds:.2f}s"
    )
    for (key, run), base in zip(runs.items(), idles, strict=True):
        print(
            f"  concurrent read p99 during/idle ({key}): {run.p99_ms / max(base.p99_ms, 1e-9):.2f}x"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--thumbnails", type=int, default=200_000)
    parser.add_argument("--links", type=int, default=200_000)
    parser.add_argument("--garbage", type=float, default=0.2, help="share in the first db")
    args = parser.parse_args()

    variants = {
        "high": Sizes(args.entities, args.thumbnails, args.links, args.garbage),
        "low": Sizes(args.entities, args.thumbnails, args.links, args.garbage / GROWTH),
        "small": Sizes(
            args.entities // GROWTH, args.thumbnails // GROWTH, args.links // GROWTH, args.garbage
        ),
    }
    for sizes in variants.values():
        sizes.check()
    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    run_id = secrets.token_hex(3)
    names = {key: f"ayon_bench_cleanup_{key}_{run_id}" for key in variants}
    settings = {
        key: Settings(
            postgres_url=with_database(server, name),
            redis_url=redis_url,
            redis_key_prefix=f"ayonbench_{run_id}_{key}",
            log_level="warning",
        )
        for key, name in names.items()
    }
    runtimes: dict[str, Runtime] = {}
    bench_started = time.perf_counter()
    try:
        for key, sizes in variants.items():
            started = time.perf_counter()
            await run_setup(settings[key])
            runtimes[key] = Runtime.create(settings[key])
            await create(runtimes[key])
            await fill(settings[key].postgres_url, sizes)
            print(
                f"filled {key}: {sizes.entities:,} entities ({sizes.folders:,} folders, "
                f"{sizes.tasks:,} tasks, {sizes.products:,} products, {sizes.versions:,} "
                f"versions), {sizes.thumbnails:,} thumbnails ({sizes.garbage_thumbnails:,} "
                f"garbage), {sizes.links:,} links ({sizes.garbage_links:,} garbage: "
                f"{sizes.garbage_type_links:,} of a deleted type, {sizes.dead_input_links:,} "
                f"dead input, {sizes.dead_output_links:,} dead output) "
                f"({time.perf_counter() - started:.1f}s)"
            )
        ids = {key: probe_ids(sizes) for key, sizes in variants.items()}
        labels = {
            key: f"{key}: {sizes.entities:,} ent., {sizes.garbage:.0%} garbage"
            for key, sizes in variants.items()
        }
        for task in TASKS:
            idles, runs = [], {}
            for key in variants:
                url = settings[key].postgres_url
                idles.append(await measure(f"{labels[key]}, idle", url, ids[key], idle))
                runs[key] = await measure(
                    f"{labels[key]}, task",
                    url,
                    ids[key],
                    lambda key=key, task=task: task_runner(runtimes[key], task),
                )
            rerun = await measure(
                "high again: nothing left to remove",
                settings["high"].postgres_url,
                ids["high"],
                lambda task=task: task_runner(runtimes["high"], task),
            )
            report(task, idles, runs, rerun)
        for key in variants:
            print(f"garbage left in {key}: {await leftovers(settings[key].postgres_url)}")
        print(f"\ntotal benchmark time {time.perf_counter() - bench_started:.0f}s")
    finally:
        for runtime in runtimes.values():
            await runtime.close()
        conn = await asyncpg.connect(server)
        for name in names.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
