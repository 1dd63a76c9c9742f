"""Log collector benchmark: batched COPY versus one INSERT per record, and what logging flat out
costs a request.

(a) The same records are written to public.logs three ways, side by side: the LogCollector
    (a COPY per batch), one INSERT per record, and asyncpg's executemany (pipelined INSERTs).
(b) The app (create_app, lifespan running, its own LogCollector) serves HTTP with uvicorn in this
    process; a client in another process sends sequential GET /api/health requests and reports
    p50/p99 latency while the server is idle, while a task in the server logs as fast as it can
    through the collector's handler, and, to tell the two costs apart, while that task logs into
    a handler that discards the records.

Needs only a local PostgreSQL and Redis and finishes in well under two minutes:

    .venv/bin/python bench/log_collector.py [--records 10000] [--requests 1000]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The benchmark creates its own database with setup and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import redis.asyncio as aioredis
import uvicorn

from ayon_server.api.app import create_app
from ayon_server.background.log_collector import LogCollector
from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.logs.queue_handler import LogEntry, LogQueue, LogQueueHandler
from ayon_server.runtime import Runtime
from setup.__main__ import run_setup

INSERT = """
    INSERT INTO public.logs (created_at, level, message, module, user_name, project_name, context)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
FLOOD_BURST = 100  # records the flooding task logs between two yields to the event loop
PROBE_WARMUP = 100
PROBE_MAX_SECONDS = 12.0  # per condition, so a slow machine still finishes in time


@dataclass
class Throughput:
    label: str
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


@dataclass
class Latency:
    label: str
    p50_ms: float
    p99_ms: float
    requests: int
    logged: int = 0
    stored: int = 0
    dropped: int = 0


def make_entries(count: int) -> list[LogEntry]:
    """Entries as the handler builds them from real records (a message, extras, a user)."""
    handler = LogQueueHandler(LogQueue(1))
    entries = []
    for number in range(count):
        record = logging.LogRecord(
            "bench.writer",
            logging.INFO,
            __file__,
            1,
            "published version %d of %s",
            (number, "sh010"),
            None,
        )
        record.user = "bench"
        record.project = "demo"
        record.frame = number
        entries.append(handler.entry(record))
    return entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the log collector did not catch up in time")
        await asyncio.sleep(0.001)


async def clear_logs(runtime: Runtime) -> None:
    await runtime.db.execute("TRUNCATE public.logs")


async def timed(
    label: str, runtime: Runtime, count: int, write: Callable[[], Awaitable[None]]
) -> Throughput:
    await clear_logs(runtime)
    started = time.perf_counter()
    await write()
    seconds = time.perf_counter() - started
    stored = await runtime.db.fetchval("SELECT count(*) FROM public.logs")
    if stored != count:
        raise RuntimeError(f"{label}: {stored} rows stored, expected {count}")
    return Throughput(label, count, seconds)


async def through_collector(runtime: Runtime, entries: list[LogEntry]) -> Throughput:
    collector = LogCollector(runtime, queue_size=len(entries) + 10, max_delay=0.05)
    # Warm up: the dedicated connection and the COPY's column lookup exist before the clock runs.
    collector.queue.put(entries[0])
    collector.start()
    await wait_until(lambda: collector.written_total == 1)
    await clear_logs(runtime)

    async def write() -> None:
        for entry in entries:
            collector.queue.put(entry)
        await wait_until(lambda: collector.written_total == len(entries) + 1)

    result = await timed("LogCollector: COPY per batch", runtime, len(entries), write)
    await collector.stop(10)
    return result


async def one_insert_per_record(runtime: Runtime, entries: list[LogEntry]) -> Throughput:
    async with runtime.db.acquire() as conn:

        async def write() -> None:
            for entry in entries:
                await conn.execute(INSERT, *entry)

        return await timed("one INSERT per record", runtime, len(entries), write)


async def executemany(runtime: Runtime, entries: list[LogEntry]) -> Throughput:
    async with runtime.db.acquire() as conn:

        async def write() -> None:
            await conn.executemany(INSERT, entries)

        return await timed("executemany (pipelined INSERTs)", runtime, len(entries), write)


async def flood(logger: logging.Logger, stop: asyncio.Event, counter: list[int]) -> None:
    """Log as fast as possible, yielding to the event loop after every burst."""
    while not stop.is_set():
        for _ in range(FLOOD_BURST):
            logger.info("flood record %d", counter[0], extra={"user": "bench", "shot": "sh010"})
            counter[0] += 1
        await asyncio.sleep(0)


def probe(url: str, requests: int) -> None:
    """The client, run in a subprocess so it never competes for the server's event loop."""
    with httpx.Client(timeout=10) as client:
        for _ in range(PROBE_WARMUP):
            client.get(url).raise_for_status()
        latencies = []
        stop_at = time.perf_counter() + PROBE_MAX_SECONDS
        while len(latencies) < requests and time.perf_counter() < stop_at:
            started = time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    print(json.dumps(latencies))


async def run_probe(url: str, requests: int) -> list[float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe",
        url,
        "--requests",
        str(requests),
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the probe client failed with exit code {process.returncode}")
    return json.loads(stdout)


async def measure_latency(
    label: str, url: str, requests: int, collector: LogCollector, logger: logging.Logger | None
) -> Latency:
    stop = asyncio.Event()
    counter = [0]
    before = collector.metrics()
    flooder = asyncio.create_task(flood(logger, stop, counter)) if logger else None
    latencies = await run_probe(url, requests)
    stop.set()
    if flooder is not None:
        await flooder
    # Let the collector catch up, so "stored" is what the flood really persisted.
    await wait_until(lambda: collector.metrics()["queue_depth"] == 0)
    after = collector.metrics()
    cuts = statistics.quantiles(latencies, n=100)
    return Latency(
        label,
        cuts[49],
        cuts[98],
        len(latencies),
        logged=counter[0],
        stored=int(after["written_total"] - before["written_total"]),
        dropped=int(after["dropped_total"] - before["dropped_total"]),
    )


def emit_cost_us(logger: logging.Logger, count: int = 50_000) -> float:
    """Microseconds one logging call costs the caller, in a tight loop."""
    started = time.perf_counter()
    for number in range(count):
        logger.info("flood record %d", number, extra={"user": "bench", "shot": "sh010"})
    return (time.perf_counter() - started) / count * 1e6


async def request_latency(settings: Settings, requests: int) -> tuple[list[Latency], float, float]:
    """Latency rows, then the per-call cost through the collector and through a discarding
    handler."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or serving.done())
    if not server.started:
        raise RuntimeError("the benchmark server did not start")
    collected = logging.getLogger("bench.flood")
    collected.setLevel(logging.INFO)
    discarded = logging.getLogger("bench.discarded")
    discarded.setLevel(logging.INFO)
    discarded.propagate = False
    discarded.addHandler(logging.NullHandler())
    try:
        collector = app.state.server.workers.get(LogCollector.name)
        assert isinstance(collector, LogCollector)
        url = f"http://127.0.0.1:{port}/api/health"
        rows = [
            await measure_latency("idle", url, requests, collector, None),
            await measure_latency(
                "flooding the collector's handler", url, requests, collector, collected
            ),
            await measure_latency(
                "flooding a discarding handler", url, requests, collector, discarded
            ),
        ]
        through_collector = emit_cost_us(collected, collector.queue.maxsize // 2)
        await wait_until(lambda: collector.metrics()["queue_depth"] == 0)
        return rows, through_collector, emit_cost_us(discarded)
    finally:
        server.should_exit = True
        await serving


def report_throughput(rows: list[Throughput]) -> None:
    print(f"  {'path':<34}{'records':>9}{'seconds':>9}{'records/s':>12}")
    for row in rows:
        print(f"  {row.label:<34}{row.records:>9,}{row.seconds:>9.2f}{row.per_second:>12,.0f}")
    ours, naive, many = rows
    print(
        f"  ratio collector / one INSERT per record: {ours.per_second / naive.per_second:.1f}x; "
        f"collector / executemany: {ours.per_second / many.per_second:.1f}x"
    )


def report_latency(rows: list[Latency], collector_us: float, discarding_us: float) -> None:
    print(
        f"  {'while':<34}{'requests':>9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'logged':>10}{'stored':>10}{'dropped':>9}"
    )
    for row in rows:
        print(
            f"  {row.label:<34}{row.requests:>9,}{row.p50_ms:>8.3f}{row.p99_ms:>8.3f}"
            f"{row.logged:>10,}{row.stored:>10,}{row.dropped:>9,}"
        )
    idle, collected, discarded = rows
    print(
        f"  ratio flooding the collector / idle: p50 {collected.p50_ms / idle.p50_ms:.2f}x, "
        f"p99 {collected.p99_ms / idle.p99_ms:.2f}x"
    )
    print(
        f"  ratio flooding the collector / flooding a discarding handler: "
        f"p50 {collected.p50_ms / discarded.p50_ms:.2f}x, "
        f"p99 {collected.p99_ms / discarded.p99_ms:.2f}x"
    )
    print(
        f"  one logging call costs the caller {collector_us:.1f} us through the collector's "
        f"handler, {discarding_us:.1f} us into a discarding one"
    )


async def main(args: argparse.Namespace) -> None:
    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    run_id = secrets.token_hex(3)
    name = f"ayon_bench_logs_{run_id}"
    settings = Settings(
        postgres_url=with_database(server, name),
        redis_url=redis_url,
        redis_key_prefix=f"ayonbench_{run_id}",
        log_level="warning",
    )
    try:
        await run_setup(settings)
        runtime = Runtime.create(settings)
        entries = make_entries(args.records)

        print(f"\n(a) writing {args.records:,} log records into public.logs")
        rows = [
            await through_collector(runtime, entries),
            await one_insert_per_record(runtime, entries),
            await executemany(runtime, entries),
        ]
        report_throughput(rows)
        await runtime.close()

        print(
            f"\n(b) GET /api/health latency over HTTP (uvicorn in this process, client in another),"
            f" up to {args.requests:,} sequential requests or {PROBE_MAX_SECONDS:g} s per row"
        )
        report_latency(*await request_latency(settings, args.requests))
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        client = aioredis.from_url(redis_url)
        async for key in client.scan_iter(match=f"{settings.redis_key_prefix}*"):
            await client.delete(key)
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.probe:
        probe(arguments.probe, arguments.requests)
    else:
        asyncio.run(main(arguments))
