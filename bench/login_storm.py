"""Login storm benchmark: other requests keep their latency while logins run.

Starts the server (create_app under uvicorn) in a subprocess on a database of its own, twice:
as shipped, argon2 verification in the bounded password thread pool, once per pool size in
--workers (AYON_PASSWORD_HASH_WORKERS), then with verification run on the event loop (what the
server did before the pool: the baseline). Against each, one client measures
`GET /api/info` throughput and p50/p99 for --seconds while the server is idle, then again while
--logins clients log in as fast as they can (correct password, so the throttle never steps in).
Prints both side by side. Needs only a local PostgreSQL and Redis:

    .venv/bin/python bench/login_storm.py [--logins 4] [--seconds 5] [--workers 1,2]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import sys
import time
from dataclasses import dataclass

import asyncpg
import httpx

from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database

USER, PASSWORD = "storm", "correct horse battery staple"


@dataclass
class Sample:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    logins: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(settings_json: str, port: int, on_loop: bool) -> None:
    """The server process. With on_loop, verification runs on the event loop (the baseline)."""
    import uvicorn

    from ayon_server.api import routes
    from ayon_server.api.app import create_app
    from ayon_server.auth import passwords

    if on_loop:

        async def verify_on_loop(password_hash: str | None, password: str) -> bool:
            return passwords.verify_or_waste_time(password_hash, password)

        routes.auth.verify_or_waste_time_async = verify_on_loop  # type: ignore[attr-defined]
    settings = Settings.model_validate_json(settings_json)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


async def measure(client: httpx.AsyncClient, label: str, seconds: float, logins: int) -> Sample:
    stop = asyncio.Event()
    logged_in = [0]

    async def log_in() -> None:
        while not stop.is_set():
            response = await client.post(
                "/api/auth/login", json={"name": USER, "password": PASSWORD}
            )
            response.raise_for_status()
            logged_in[0] += 1

    storm = [asyncio.create_task(log_in()) for _ in range(logins)]
    if storm:
        await asyncio.sleep(0.5)  # the storm is under way before the clock runs
        logged_in[0] = 0
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        sent = time.perf_counter()
        (await client.get("/api/info")).raise_for_status()
        latencies.append((time.perf_counter() - sent) * 1000)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*storm)
    cuts = statistics.quantiles(latencies, n=100)
    return Sample(label, len(latencies), elapsed, cuts[49], cuts[98], logged_in[0])


async def against(settings: Settings, on_loop: bool, seconds: float, logins: int) -> list[Sample]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        settings.model_dump_json(),
        str(port),
        "loop" if on_loop else "pool",
    )
    mode = "on the event loop" if on_loop else f"pool of {settings.password_hash_workers}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/api/info")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.2)
            idle = await measure(client, f"{mode}: idle", seconds, 0)
            storm = await measure(client, f"{mode}: {logins} clients logging in", seconds, logins)
            return [idle, storm]
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            process.terminate()
        await process.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--workers", default="1,2", help="password pool sizes to measure, comma-separated"
    )
    args = parser.parse_args()

    server = os.environ.get(
        "AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    run_id = secrets.token_hex(3)
    name = f"ayon_bench_logins_{run_id}"
    settings = Settings(
        postgres_url=with_database(server, name),
        redis_url=os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_key_prefix=f"ayonbench_{run_id}",
        log_level="warning",
    )
    from ayon_server.auth.users import create_user
    from ayon_server.runtime import Runtime
    from setup.__main__ import run_setup

    try:
        await run_setup(settings)
        runtime = Runtime.create(settings)
        await create_user(runtime.db, USER, password=PASSWORD)
        await runtime.close()
        samples = []
        for workers in [int(w) for w in args.workers.split(",")]:
            pool = settings.model_copy(update={"password_hash_workers": workers})
            samples += await against(pool, False, args.seconds, args.logins)
        samples += await against(settings, True, args.seconds, args.logins)
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    print(f"GET /api/info, one client, {args.seconds:g} s each ({os.cpu_count()} cores)")
    print(f"  {'server':<44}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'logins/s':>10}")
    for s in samples:
        print(
            f"  {s.label:<44}{s.per_second:>8.0f}{s.p50_ms:>9.2f}{s.p99_ms:>9.2f}"
            f"{s.logins / s.seconds:>10.1f}"
        )
    loop_storm = samples[-1]
    for idle, storm in zip(samples[:-2:2], samples[1:-2:2], strict=True):
        mode = storm.label.split(":")[0]
        print(
            f"  {mode}: during the storm {storm.per_second / idle.per_second:.2f}"
            f" of idle throughput; vs on-loop {storm.per_second / loop_storm.per_second:.0f}x"
            f" the throughput, p99 {loop_storm.p99_ms / storm.p99_ms:.0f}x lower"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "loop")
    else:
        asyncio.run(main())
