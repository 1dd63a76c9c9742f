"""Prove on one Docker host that the server scales out: run against deploy/compose/scaled.yml.

    docker compose -f deploy/compose/scaled.yml up -d --build --wait
    .venv/bin/python deploy/compose/prove_scaling.py

Four proofs, each printing its figures; the exit code is 0 only when all hold:

1. config: a maintenance schedule changed through one replica is what every replica answers,
   and both maintenance schedulers reschedule to it (their logs say so).
2. websocket: an event dispatched through any replica reaches clients connected to every
   replica (directly, and one through the proxy).
3. maintenance: at that schedule's fire both schedulers fire; exactly one run happens (one
   `server.maintenance` event) and the other scheduler says it skipped.
4. rolling restart: under a bounded load through the proxy (`--rate` requests/s, half
   GET /api/info, half POST /api/events) the replicas restart one at a time, each waited for
   until ready; every request is answered 2xx and every acknowledged POST is readable after.

Talks only to 127.0.0.1 (the ports scaled.yml publishes) and to `docker compose`. Bounded: the
load stops by itself; the whole run takes about two to three minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

COMPOSE_FILE = Path(__file__).resolve().parent / "scaled.yml"
REPLICAS = ("server1", "server2", "server3")
SCHEDULERS = ("maintenance1", "maintenance2")
HEARTBEAT = {"topic": "heartbeat"}


def compose(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if check and result.returncode != 0:
        raise SystemExit(f"docker compose {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def report(name: str, ok: bool, figures: str) -> bool:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {figures}", flush=True)
    return ok


async def wait_ready(http: httpx.AsyncClient, url: str, timeout: float = 120) -> float:
    """Seconds until GET url/api/ready answered 200."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(f"{url}/api/ready", timeout=3)).status_code == 200:
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{url} not ready within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def login(http: httpx.AsyncClient, url: str, password: str) -> dict[str, str]:
    response = await http.post(
        f"{url}/api/auth/login", json={"name": "admin", "password": password}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


# ---- 1. config -------------------------------------------------------------------------------


def next_schedule(lead: float = 25.0) -> tuple[str, datetime]:
    """A cron expression (UTC) firing once at the start of a minute at least `lead` s ahead."""
    fire = (datetime.now(UTC) + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)
    return f"{fire.minute} {fire.hour} * * *", fire


async def scheduler_logs(since: datetime) -> dict[str, str]:
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        name: await asyncio.to_thread(compose, "logs", "--no-color", "--since", stamp, name)
        for name in SCHEDULERS
    }


async def prove_config(
    http: httpx.AsyncClient, replicas: list[str], headers: dict[str, str], schedule: str
) -> bool:
    changed_at = datetime.now(UTC) - timedelta(seconds=1)
    patch = {"enabled": True, "schedule": schedule, "timezone": "UTC"}
    response = await http.patch(
        f"{replicas[0]}/api/config/maintenance", json=patch, headers=headers
    )
    response.raise_for_status()
    seen = []
    for url in replicas:
        config = (await http.get(f"{url}/api/config/maintenance", headers=headers)).json()
        state = (await http.get(f"{url}/api/maintenance", headers=headers)).json()
        seen.append((config["schedule"], state["nextRun"]))
    same = len(set(seen)) == 1 and seen[0][0] == schedule
    # The schedulers hear of it over Redis (or their periodic re-read): wait for their log line.
    start = time.monotonic()
    rescheduled: dict[str, float] = {}
    while len(rescheduled) < len(SCHEDULERS) and time.monotonic() - start < 45:
        for name, text in (await scheduler_logs(changed_at)).items():
            if f"maintenance scheduled {schedule!r}" in text and name not in rescheduled:
                rescheduled[name] = time.monotonic() - start
        await asyncio.sleep(0.5)
    return report(
        "config change reaches every replica and scheduler",
        same and len(rescheduled) == len(SCHEDULERS),
        f"PATCH via server1 schedule={schedule!r}; server1..3 answer "
        f"{[s for s, _ in seen]} with nextRun {seen[0][1]}; schedulers rescheduled: "
        + ", ".join(f"{n} after {t:.1f} s" for n, t in rescheduled.items())
        + (
            f"; missing {sorted(set(SCHEDULERS) - set(rescheduled))}"
            if len(rescheduled) < 2
            else ""
        ),
    )


# ---- 2. websocket fan-out --------------------------------------------------------------------


async def ws_client(url: str, token: str, topic: str) -> ClientConnection:
    ws = await connect(url.replace("http", "ws", 1) + "/ws", open_timeout=10)
    await ws.send(json.dumps({"topic": "auth", "token": token, "subscribe": [topic]}))
    first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert first == HEARTBEAT, first
    return ws


async def next_event(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message != HEARTBEAT:
            return message


async def prove_websocket(
    http: httpx.AsyncClient, proxy: str, replicas: list[str], headers: dict[str, str]
) -> bool:
    token = headers["Authorization"].removeprefix("Bearer ")
    topic = f"scaling.ws.{os.getpid()}"
    targets = [*replicas, proxy]
    clients = [await ws_client(url, token, topic) for url in targets]
    delivered = 0
    expected = 0
    latencies: list[float] = []
    try:
        for round_, sender in enumerate(replicas * 2):
            sent = time.monotonic()
            response = await http.post(
                f"{sender}/api/events",
                json={"topic": topic, "description": f"round {round_}"},
                headers=headers,
            )
            event_id = response.json()["id"]
            messages = await asyncio.gather(
                *(next_event(ws) for ws in clients), return_exceptions=True
            )
            for message in messages:
                expected += 1
                if isinstance(message, dict) and message.get("id") == event_id:
                    delivered += 1
                    latencies.append(time.monotonic() - sent)
    finally:
        for ws in clients:
            await ws.close()
    return report(
        "websocket events reach clients on every replica",
        delivered == expected,
        f"{delivered}/{expected} deliveries (6 events, each posted to one replica, to "
        f"{len(clients)} clients: server1..3 directly and one through the proxy); "
        f"latency max {max(latencies) * 1000:.0f} ms, median "
        f"{statistics.median(latencies) * 1000:.0f} ms",
    )


# ---- 3. exactly one maintenance run ----------------------------------------------------------


async def prove_one_run(
    http: httpx.AsyncClient, proxy: str, headers: dict[str, str], fire: datetime
) -> bool:
    print(f"       waiting for the schedule to fire at {fire:%H:%M:%S} UTC ...", flush=True)
    await asyncio.sleep(max(0.0, (fire - datetime.now(UTC)).total_seconds()))
    deadline = time.monotonic() + 120
    runs: list[dict[str, Any]] = []
    skipped: list[str] = []
    while time.monotonic() < deadline:
        response = await http.get(
            f"{proxy}/api/events",
            params={
                "topic": "server.maintenance",
                "newerThan": (fire - timedelta(seconds=1)).isoformat(),
            },
            headers=headers,
        )
        runs = response.json()["events"]
        logs = await scheduler_logs(fire - timedelta(seconds=1))
        skipped = [name for name, text in logs.items() if "skipping" in text]
        finished = runs and all(run["status"] != "in_progress" for run in runs)
        if finished and len(runs) + len(skipped) >= len(SCHEDULERS):
            break
        await asyncio.sleep(1)
    ran_on = [run.get("sender") for run in runs]
    return report(
        "exactly one maintenance run per schedule fire",
        len(runs) == 1 and len(skipped) == len(SCHEDULERS) - 1,
        f"{len(runs)} server.maintenance event(s) after the {fire:%H:%M} fire "
        f"(status {[r['status'] for r in runs]}, sender {ran_on}); "
        f"{len(skipped)} scheduler(s) logged skipping it: {skipped}",
    )


# ---- 4. rolling restart under load -----------------------------------------------------------


@dataclass
class Load:
    rate: float
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def one(self, http: httpx.AsyncClient, url: str, index: int, headers: dict) -> None:
        start = time.monotonic()
        try:
            if index % 2:
                response = await http.post(
                    f"{url}/api/events",
                    json={"topic": "scaling.load", "description": f"load {index}"},
                    headers=headers,
                    timeout=30,
                )
                if response.status_code == 200:
                    self.acknowledged.append(response.json()["id"])
                kind = "POST /api/events"
            else:
                response = await http.get(f"{url}/api/info", timeout=30)
                kind = "GET /api/info"
            self.statuses[f"{kind} {response.status_code}"] += 1
            if response.status_code >= 300:
                self.errors.append(f"{kind} {response.status_code} {response.text[:200]}")
        except httpx.HTTPError as exc:
            self.statuses[f"transport error {exc.__class__.__name__}"] += 1
            self.errors.append(f"{exc.__class__.__name__}: {exc}")
        self.latencies.append(time.monotonic() - start)

    async def run(
        self, http: httpx.AsyncClient, url: str, headers: dict, stop: asyncio.Event
    ) -> None:
        """Fire requests at a fixed rate (not waiting for answers) until `stop`, then drain."""
        pending: set[asyncio.Task[None]] = set()
        index = 0
        start = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(self.one(http, url, index, headers))
            pending.add(task)
            task.add_done_callback(pending.discard)
            index += 1
            await asyncio.sleep(max(0.0, start + index / self.rate - time.monotonic()))
        if pending:
            await asyncio.wait(pending)


async def prove_rolling_restart(
    http: httpx.AsyncClient,
    proxy: str,
    replicas: list[str],
    headers: dict[str, str],
    rate: float,
    settle: float,
) -> bool:
    load = Load(rate)
    stop = asyncio.Event()
    began = time.monotonic()
    runner = asyncio.create_task(load.run(http, proxy, headers, stop))
    await asyncio.sleep(settle)  # steady load before the first restart
    restarts = []
    for name, url in zip(REPLICAS, replicas, strict=True):
        start = time.monotonic()
        await asyncio.to_thread(compose, "restart", name)
        stopped_and_started = time.monotonic() - start
        ready_after = await wait_ready(http, url)
        restarts.append((name, stopped_and_started, stopped_and_started + ready_after))
        await asyncio.sleep(settle)  # serving again before the next one goes
    stop.set()
    await runner
    duration = time.monotonic() - began
    readable = 0
    for event_id in load.acknowledged:
        response = await http.get(f"{proxy}/api/events/{event_id}", headers=headers)
        readable += response.status_code == 200
    total = sum(load.statuses.values())
    failed = total - sum(n for s, n in load.statuses.items() if s.split()[-1].startswith("2"))
    ordered = sorted(load.latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    for error in load.errors[:10]:
        print(f"       {error}")
    return report(
        "rolling restart under load loses no request",
        failed == 0 and readable == len(load.acknowledged),
        f"{total} requests in {duration:.1f} s ({total / duration:.1f}/s): "
        + ", ".join(f"{s}: {n}" for s, n in sorted(load.statuses.items()))
        + f"; {failed} failed; acknowledged POSTs readable afterwards "
        f"{readable}/{len(load.acknowledged)}; latency median "
        f"{statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
        f"{ordered[-1] * 1000:.0f} ms; restarts (stop+start, until ready): "
        + ", ".join(f"{n} {s:.1f} s/{r:.1f} s" for n, s, r in restarts),
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxy", default="http://127.0.0.1:5100")
    parser.add_argument(
        "--replicas",
        default="http://127.0.0.1:5101,http://127.0.0.1:5102,http://127.0.0.1:5103",
        help="server1..3, comma-separated, in that order",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds of load before, between, after restarts"
    )
    parser.add_argument("--password", default=os.environ.get("AYON_ADMIN_PASSWORD", "admin"))
    args = parser.parse_args()
    replicas = args.replicas.split(",")
    async with httpx.AsyncClient() as http:
        for url in [args.proxy, *replicas]:
            await wait_ready(http, url)
        headers = await login(http, args.proxy, args.password)
        schedule, fire = next_schedule()
        results = [
            await prove_config(http, replicas, headers, schedule),
            await prove_websocket(http, args.proxy, replicas, headers),
            await prove_one_run(http, args.proxy, headers, fire),
            await prove_rolling_restart(
                http, args.proxy, replicas, headers, args.rate, args.settle
            ),
        ]
    print(f"{sum(results)}/{len(results)} proofs hold")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
