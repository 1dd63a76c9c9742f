"""Retention benchmark: clean_logs and clean_events versus the naive way, side by side.

Fills identical databases of its own (by default 1,000,000 log rows over 60 days and
500,000 events over 400 days, some in depends_on chains), then on each one runs either the
maintenance task or the naive single statement while a concurrent client (a process of its own,
as an API server is) inserts and reads small events and writes log rows, one round every ~2 ms.
Prints durations, rows removed, and the p50/p99 latency of that client, with ratios.

The naive database also holds the same log rows the way AYON stores them: as `log.<level>`
events of one big events table with AYON's columns and indexes (`ayon_events`, the definition
of ayon-backend's schemas/schema.public.sql); its baseline is one correct DELETE of the expired
ones. The events baseline is one DELETE of the expired events nothing depends on, on the same
schema, and on the previous one (a third database), where a foreign key checked depends_on once
per deleted row, as it does in AYON's. Needs only a local PostgreSQL and Redis:

    .venv/bin/python bench/retention.py [--logs 1000000] [--events 500000]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.logs.partitions import ensure_partitions
from ayon_server.maintenance.config import save_config
from ayon_server.maintenance.runs import MAINTENANCE_TOPIC
from ayon_server.runtime import Runtime
from maintenance.runner import MaintenanceRunner
from setup.__main__ import run_setup

LOG_DAYS = 60
EVENT_DAYS = 400
LOG_RETENTION_DAYS = 7
EVENT_RETENTION_DAYS = 90


@dataclass
class Measurement:
    label: str
    seconds: float
    removed: int
    p50_ms: float
    p99_ms: float
    probes: int


async def fill(url: str, n_logs: int, n_events: int) -> None:
    """Deterministic data, so both databases hold exactly the same rows."""
    conn = await asyncpg.connect(url)
    try:
        today = datetime.now(UTC).date()
        await ensure_partitions(
            conn, days_ahead=LOG_DAYS + 3, today=today - timedelta(days=LOG_DAYS)
        )
        await conn.execute(
            """
            INSERT INTO public.logs (created_at, level, message, module, context)
            SELECT now() - (i::float / $1) * make_interval(days => $2),
                   (ARRAY['debug','info','warning','error'])[1 + i % 4],
                   'message number ' || i, 'bench', jsonb_build_object('i', i)
            FROM generate_series(1, $1) AS i
            """,
            n_logs,
            LOG_DAYS,
        )
        # Every 50th event depends on the previous one: chains that must stay intact.
        await conn.execute(
            """
            INSERT INTO public.events (id, hash, topic, sender, status, description, summary,
                                       payload, created_at, updated_at, depends_on)
            SELECT md5('e' || i)::uuid, 'h' || i, 'bench.topic', 'bench',
                   CASE WHEN i % 97 = 0 THEN 'pending' ELSE 'finished' END,
                   'event ' || i, jsonb_build_object('i', i), '{}'::jsonb,
                   now() - (i::float / $1) * make_interval(days => $2),
                   now() - (i::float / $1) * make_interval(days => $2),
                   NULL
            FROM generate_series(1, $1) AS i
            """,
            n_events,
            EVENT_DAYS,
        )
        await conn.execute(
            """
            UPDATE public.events e SET depends_on = md5('e' || (i + 1))::uuid
            FROM generate_series(1, $1 - 1) AS i
            WHERE i % 50 = 0 AND e.id = md5('e' || i)::uuid
            """,
            n_events,
        )
        await conn.execute("VACUUM (ANALYZE) public.events")
        await conn.execute("VACUUM (ANALYZE) public.logs")
    finally:
        await conn.close()


# AYON's events table and indexes (ayon-backend, schemas/schema.public.sql), where AYON keeps
# its logs as events with topic log.<level>.
AYON_EVENTS = """
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE public.ayon_events (
        id UUID NOT NULL PRIMARY KEY,
        hash VARCHAR NOT NULL,
        topic VARCHAR NOT NULL,
        sender VARCHAR,
        sender_type VARCHAR,
        project_name VARCHAR,
        user_name VARCHAR,
        depends_on UUID REFERENCES public.ayon_events(id),
        status VARCHAR NOT NULL DEFAULT 'finished' CHECK (status IN
            ('pending', 'in_progress', 'finished', 'failed', 'aborted', 'restarted')),
        retries INTEGER NOT NULL DEFAULT 0,
        description TEXT NOT NULL DEFAULT '',
        summary JSONB NOT NULL DEFAULT '{}'::JSONB,
        payload JSONB NOT NULL DEFAULT '{}'::JSONB,
        created_at TIMESTAMPTZ DEFAULT NOW(),
        updated_at TIMESTAMPTZ DEFAULT NOW(),
        creation_order SERIAL NOT NULL
    );
    CREATE UNIQUE INDEX ayon_unique_event_hash ON ayon_events (hash);
    CREATE UNIQUE INDEX ayon_unique_creation_order ON ayon_events (creation_order);
    CREATE INDEX ayon_event_topic_idx ON ayon_events USING GIN (topic gin_trgm_ops);
    CREATE INDEX ayon_event_depends_on_idx ON ayon_events (depends_on);
    CREATE INDEX ayon_event_project_name_idx ON ayon_events (project_name);
    CREATE INDEX ayon_event_user_name_idx ON ayon_events (user_name);
    CREATE INDEX ayon_event_created_at_idx ON ayon_events (created_at);
    CREATE INDEX ayon_event_updated_at_idx ON ayon_events (updated_at);
    CREATE INDEX ayon_event_status_idx ON ayon_events (status);
    CREATE INDEX ayon_event_retries_idx ON ayon_events (retries);
    CREATE INDEX ayon_events_sender_type_idx ON ayon_events (sender_type);
    CREATE INDEX ayon_idx_events_excluded_lookup ON ayon_events (topic, updated_at)
        INCLUDE (depends_on) WHERE depends_on IS NOT NULL AND status IN ('finished', 'failed');
    CREATE INDEX ayon_idx_events_source_processing ON ayon_events (topic, status, created_at);
    CREATE INDEX ayon_idx_events_target_lookup ON ayon_events (depends_on, topic);
"""


# The previous release's events.depends_on (before migration 0009): a foreign key.
PREVIOUS_DEPENDS_ON = """
    DROP TRIGGER events_depends_on_exists ON public.events;
    DROP TRIGGER events_dependents_kept ON public.events;
    DROP TRIGGER events_id_kept ON public.events;
    ALTER TABLE public.events ADD CONSTRAINT events_depends_on_fkey
        FOREIGN KEY (depends_on) REFERENCES public.events(id);
"""


async def previous_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PREVIOUS_DEPENDS_ON)
    finally:
        await conn.close()


async def fill_ayon_logs(url: str) -> None:
    """The log rows of `fill`, as AYON stores them."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(AYON_EVENTS)
        await conn.execute(
            """
            INSERT INTO public.ayon_events (id, hash, topic, sender, user_name, description,
                                            summary, created_at, updated_at)
            SELECT gen_random_uuid(), md5(random()::text || id::text), 'log.' || level, module,
                   user_name, message, context, created_at, created_at
            FROM public.logs
            """
        )
        await conn.execute("VACUUM (ANALYZE) public.ayon_events")
    finally:
        await conn.close()


async def probe(url: str, started: Any, stop: Any) -> list[float]:
    """A small client: insert an event, read it back, write a log row; one round at a time.

    Warm for half a second, then `started` is set and the rounds are timed until `stop` is.
    """
    conn = await asyncpg.connect(url)
    latencies: list[float] = []
    warm_until = time.perf_counter() + 0.5
    try:
        while not stop.is_set():
            event_id = uuid.uuid4()
            began = time.perf_counter()
            await conn.execute(
                "INSERT INTO public.events (id, hash, topic, status) "
                "VALUES ($1, $2, 'bench.probe', 'finished')",
                event_id,
                event_id.hex,
            )
            await conn.fetchrow("SELECT * FROM public.events WHERE id = $1", event_id)
            await conn.execute("INSERT INTO public.logs (level, message) VALUES ('info', 'probe')")
            if began >= warm_until:
                latencies.append((time.perf_counter() - began) * 1000)
                started.set()
            await asyncio.sleep(0.002)
    finally:
        await conn.close()
    return latencies


def probe_process(url: str, started: Any, stop: Any, results: Any) -> None:
    results.put(asyncio.run(probe(url, started, stop)))


async def measure(label: str, url: str, work: Callable[[], Awaitable[int]]) -> Measurement:
    """Run `work` while the probe runs in a process of its own, as an API server would: the
    runner's own Python work (it shares nothing with the probe) does not delay the probe."""
    spawn = multiprocessing.get_context("spawn")
    started, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    prober = spawn.Process(target=probe_process, args=(url, started, stop, results))
    prober.start()
    await asyncio.to_thread(started.wait)
    began = time.perf_counter()
    removed = await work()
    seconds = time.perf_counter() - began
    stop.set()
    latencies = await asyncio.to_thread(results.get)
    prober.join()
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return Measurement(label, seconds, removed, cuts[49], cuts[98], len(latencies))


async def baseline(url: str, seconds: float = 3.0) -> Measurement:
    async def idle() -> int:
        await asyncio.sleep(seconds)
        return 0

    return await measure("idle (no clean-up)", url, idle)


async def ayon_logs(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute(
            "DELETE FROM public.ayon_events "
            "WHERE topic LIKE 'log.%' AND created_at < now() - make_interval(days => $1)",
            LOG_RETENTION_DAYS,
        )
    finally:
        await conn.close()
    return int(status.split()[-1])


async def naive_events(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute(
            """
            DELETE FROM public.events e
            WHERE created_at < now() - make_interval(days => $1)
              AND status NOT IN ('pending', 'in_progress')
              AND topic <> $2
              AND NOT EXISTS (SELECT 1 FROM public.events d WHERE d.depends_on = e.id)
            """,
            EVENT_RETENTION_DAYS,
            MAINTENANCE_TOPIC,
        )
    finally:
        await conn.close()
    return int(status.split()[-1])


async def task_runner(runtime: Runtime, name: str) -> int:
    runner = MaintenanceRunner(runtime)
    result = await runner.run([name], trigger="cli")
    task = result.tasks[0]
    if task.status != "finished":
        raise RuntimeError(f"{name} ended {task.status}: {task.error}")
    counts = task.result
    return int(counts.get("deleted", 0)) + int(counts.get("maintenanceHistoryDeleted", 0))


async def count(url: str, query: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def report(
    rows: list[Measurement], naive: Measurement, ours: Measurement, baseline: str = "naive"
) -> None:
    print(f"  {'approach':<34}{'seconds':>9}{'removed':>11}{'p50 ms':>9}{'p99 ms':>9}{'probes':>8}")
    for m in rows:
        print(
            f"  {m.label:<34}{m.seconds:>9.2f}{m.removed:>11,}{m.p50_ms:>9.2f}"
            f"{m.p99_ms:>9.2f}{m.probes:>8}"
        )
    print(
        f"  ratio {baseline}/ours: time {naive.seconds / ours.seconds:.2f}x, "
        f"concurrent p99 {naive.p99_ms / max(ours.p99_ms, 1e-9):.2f}x"
    )
    if naive.removed and ours.removed:
        # The two may remove different rows (clean_events also takes whole expired chains).
        per_row = (naive.seconds / naive.removed) / (ours.seconds / ours.removed)
        print(f"  ratio {baseline}/ours per row removed: {per_row:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument(
        "--batch-pause-ms",
        type=int,
        default=0,
        help="batchPauseMs for the tasks: a pause between batches trades time for latency",
    )
    args = parser.parse_args()

    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    run_id = secrets.token_hex(3)
    names = {
        "naive": f"ayon_bench_naive_{run_id}",
        "ours": f"ayon_bench_ours_{run_id}",
        "previous": f"ayon_bench_previous_{run_id}",
    }
    settings = {
        key: Settings(
            postgres_url=with_database(server, name),
            redis_url=redis_url,
            redis_key_prefix=f"ayonbench_{run_id}_{key}",
            log_level="warning",
        )
        for key, name in names.items()
    }
    try:
        for key, s in settings.items():
            started = time.perf_counter()
            await run_setup(s)
            logs = 0 if key == "previous" else args.logs  # its events only
            await fill(s.postgres_url, logs, args.events)
            if key == "previous":
                await previous_schema(s.postgres_url)
            if key == "naive":
                await fill_ayon_logs(s.postgres_url)
            print(
                f"filled {key}: {logs:,} log rows over {LOG_DAYS} days, "
                f"{args.events:,} events over {EVENT_DAYS} days "
                f"({time.perf_counter() - started:.1f}s)"
            )
        ours_rt = Runtime.create(settings["ours"])
        await save_config(
            ours_rt,
            {
                "logRetentionDays": LOG_RETENTION_DAYS,
                "eventRetentionDays": EVENT_RETENTION_DAYS,
                "maintenanceHistoryDays": EVENT_RETENTION_DAYS,
                "batchPauseMs": args.batch_pause_ms,
            },
        )
        naive_url, ours_url = settings["naive"].postgres_url, settings["ours"].postgres_url
        previous_url = settings["previous"].postgres_url

        print(f"\nclean_logs (retention {LOG_RETENTION_DAYS} days)")
        idle = await baseline(ours_url)
        naive = await measure("AYON's layout: one DELETE", naive_url, lambda: ayon_logs(naive_url))
        ours = await measure(
            "clean_logs: drop partitions+batches",
            ours_url,
            lambda: task_runner(ours_rt, "clean_logs"),
        )
        report([idle, naive, ours], naive, ours, baseline="AYON")
        expired = "created_at < now() - interval '7 days'"
        left_ayon = await count(
            naive_url,
            f"SELECT count(*) FROM public.ayon_events WHERE topic LIKE 'log.%' AND {expired}",
        )
        left_ours = await count(ours_url, f"SELECT count(*) FROM public.logs WHERE {expired}")
        print(f"  expired rows left: AYON's layout {left_ayon}, ours {left_ours}")

        print(f"\nclean_events (retention {EVENT_RETENTION_DAYS} days)")
        idle = await baseline(ours_url)
        previous = await measure(
            "previous schema: one DELETE", previous_url, lambda: naive_events(previous_url)
        )
        naive = await measure("naive: one DELETE", naive_url, lambda: naive_events(naive_url))
        ours = await measure(
            "clean_events: walk, leaves first",
            ours_url,
            lambda: task_runner(ours_rt, "clean_events"),
        )
        report([idle, previous, naive, ours], naive, ours)
        per_row = (previous.seconds / previous.removed) / (ours.seconds / ours.removed)
        print(
            f"  ratio previous schema's DELETE/ours: time {previous.seconds / ours.seconds:.2f}x, "
            f"per row removed {per_row:.2f}x"
        )
        broken = (
            "SELECT count(*) FROM public.events d WHERE d.depends_on IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM public.events p WHERE p.id = d.depends_on)"
        )
        print(f"  broken depends_on chains: ours {await count(ours_url, broken)}")
        await ours_rt.close()
    finally:
        conn = await asyncpg.connect(server)
        for name in names.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
