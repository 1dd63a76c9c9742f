"""Addon distribution benchmark: one upload of a big addon, installed on every replica.

Builds an addon zip of --mib MiB (default 200; an incompressible addon/private/client.zip, so
the zip is as big as its content), then in one run:
  ours:  starts --replicas server processes (default 3, `python entrypoint.py`, server role
         only) on one fresh database, each with its own AYON_ADDONS_DIR and storage (no shared
         volume); uploads the zip once, streamed, to the first one (POST /api/addons/install);
         measures the upload's answer, the time until public.replica_packages says `installed`
         for every replica, and each replica's peak RSS (VmHWM) before and after.
  AYON's approach: the same number of minimal servers that do what AYON's upload does (the
         whole body written to a file under /tmp, then unzipped into that server's addons
         directory); a replica only has the addon if it received the upload, so the zip is
         uploaded to each of them (in parallel) and the time is until the last one unpacked.
Prints the figures side by side and their ratios. Needs only a local PostgreSQL and Redis:

    .venv/bin/python bench/installer.py [--mib 200] [--replicas 3]

AYON_BENCH_POSTGRES_URL / AYON_BENCH_REDIS_URL override the servers (default: local services).
The database and all files are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from ayon_server.auth.users import create_user
from ayon_server.config import Settings
from ayon_server.lib.postgres import with_database
from ayon_server.runtime import Runtime
from setup.__main__ import run_setup

REPO_ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024
ADMIN_PASSWORD = "bench password 123"


# -- AYON's approach, as a minimal server ----------------------------------------------------


def ayon_style_app(addons_dir: Path):
    """What AYON's install route and installer do with an upload: stream the request body into
    /tmp/<random>.zip, then unzip it (into a temporary directory, moved into place)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def install(request: Request) -> JSONResponse:
        zip_path = Path(tempfile.gettempdir()) / f"{secrets.token_hex(8)}.zip"
        sink = await asyncio.to_thread(zip_path.open, "wb")
        try:
            async for chunk in request.stream():
                await asyncio.to_thread(sink.write, chunk)
        finally:
            sink.close()

        def unpack() -> None:
            with zipfile.ZipFile(zip_path) as archive:
                temp = Path(tempfile.mkdtemp(dir=addons_dir))
                archive.extractall(temp)
                shutil.move(str(temp / "addon"), str(addons_dir / "bench" / "1.0.0"))
                shutil.rmtree(temp)
            zip_path.unlink()

        (addons_dir / "bench").mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(unpack)
        return JSONResponse({"installed": True})

    return Starlette(routes=[Route("/api/addons/install", install, methods=["POST"])])


def serve_ayon_style(port: int, addons_dir: str) -> None:
    import uvicorn

    uvicorn.run(ayon_style_app(Path(addons_dir)), host="127.0.0.1", port=port, log_level="warning")


# -- measuring -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    """The process's resident set size now (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


class RssSampler:
    """The highest RSS of each process, sampled every 10 ms while the block runs (VmHWM would
    also count whatever happened before, such as a login's 64 MiB argon2 hash)."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.idle = [rss_mib(pid) for pid in pids]
        self.peak = list(self.idle)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for index, pid in enumerate(self.pids):
                self.peak[index] = max(self.peak[index], rss_mib(pid))
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        for index, pid in enumerate(self.pids):
            self.peak[index] = max(self.peak[index], rss_mib(pid))


def build_zip(path: Path, mib: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("manifest.json", '{"addon_name": "bench", "addon_version": "1.0.0"}')
        with archive.open("addon/private/client.zip", "w", force_zip64=True) as sink:
            for _ in range(mib):
                sink.write(os.urandom(CHUNK))
        archive.writestr("addon/server/__init__.py", "# never executed\n")


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            yield chunk
    finally:
        source.close()


def spawn(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    output = log.open("wb") if log else None
    try:
        return subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    finally:
        if output:
            output.close()  # the child has its own copy


async def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await client.get(url, timeout=2)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


@dataclass
class Figures:
    answer_s: float
    all_installed_s: float
    # ours only: when the upload was committed to the database (the rest is distribution)
    stored_s: float | None
    idle_rss: list[float]
    peak_rss: list[float]


async def wait_stored(runtime: Runtime, started: float) -> float:
    """Seconds from `started` until the uploaded addon's row is committed."""
    while True:
        if await runtime.db.fetchval("SELECT count(*) FROM public.addons"):
            return time.monotonic() - started
        await asyncio.sleep(0.02)


async def wait_installed(runtime: Runtime, replicas: int) -> None:
    while (
        await runtime.db.fetchval(
            "SELECT count(*) FROM public.replica_packages "
            "WHERE kind = 'addon' AND name = 'bench' AND status = 'installed'"
        )
        < replicas
    ):
        failed = await runtime.db.fetchval(
            "SELECT error FROM public.replica_packages WHERE status = 'failed' LIMIT 1"
        )
        if failed:
            raise RuntimeError(f"a replica failed to install: {failed}")
        await asyncio.sleep(0.05)


async def run_ours(
    settings: Settings, work: Path, archive: Path, size: int, replicas: int
) -> Figures:
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for index in range(replicas):
            port = free_port()
            root = work / f"ours-{index}"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AYON_")},
                "AYON_POSTGRES_URL": settings.postgres_url,
                "AYON_REDIS_URL": settings.redis_url,
                "AYON_REDIS_KEY_PREFIX": settings.redis_key_prefix,
                "AYON_RUN_SETUP": "false",
                "AYON_RUN_MAINTENANCE": "false",
                "AYON_HTTP_LISTEN_ADDRESS": "127.0.0.1",
                "AYON_HTTP_LISTEN_PORT": str(port),
                "AYON_ADDONS_DIR": str(root / "addons"),
                "AYON_STORAGE_DIR": str(root / "storage"),
                "AYON_MAX_PACKAGE_BYTES": str(size * 2),
                "AYON_LOG_LEVEL": "warning",
                "PYTHONPATH": str(REPO_ROOT),
            }
            processes.append(
                spawn([sys.executable, "entrypoint.py"], env, work / f"ours-{index}.log")
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            await wait_http(url + "/api/health")
        runtime = Runtime.create(settings)
        try:
            # Every replica is up and has written its row.
            while True:
                if await runtime.db.fetchval("SELECT count(*) FROM public.replicas") >= replicas:
                    break
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient(base_url=urls[0], timeout=600) as client:
                # Logging in hashes the password (argon2, 64 MiB): done before the idle figure.
                login = await client.post(
                    "/api/auth/login", json={"name": "admin", "password": ADMIN_PASSWORD}
                )
                token = login.json()["token"]
                async with RssSampler([p.pid for p in processes]) as rss:
                    started = time.monotonic()
                    stored = asyncio.create_task(wait_stored(runtime, started))
                    answer = await client.post(
                        "/api/addons/install",
                        content=file_chunks(archive),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    answered = time.monotonic() - started
                    answer.raise_for_status()
                    await wait_installed(runtime, replicas)
                    all_installed = time.monotonic() - started
        finally:
            await runtime.close()
        for index in range(replicas):
            installed = work / f"ours-{index}" / "addons" / "bench" / "1.0.0" / "private"
            assert (installed / "client.zip").stat().st_size > 0
        return Figures(answered, all_installed, await stored, rss.idle, rss.peak)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def run_ayon_style(work: Path, archive: Path, replicas: int) -> Figures:
    processes = []
    urls = []
    try:
        for index in range(replicas):
            port = free_port()
            addons = work / f"ayon-{index}" / "addons"
            addons.mkdir(parents=True)
            processes.append(
                spawn(
                    [sys.executable, __file__, "--ayon-style-server", str(port), str(addons)],
                    {**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            await wait_http(url + "/")

        async def upload(url: str) -> float:
            async with httpx.AsyncClient(timeout=600) as client:
                response = await client.post(
                    url + "/api/addons/install", content=file_chunks(archive)
                )
                response.raise_for_status()
            return time.monotonic() - started

        async with RssSampler([p.pid for p in processes]) as rss:
            started = time.monotonic()
            times = await asyncio.gather(*(upload(url) for url in urls))
        return Figures(min(times), max(times), None, rss.idle, rss.peak)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


# -- the run ---------------------------------------------------------------------------------


async def main(mib: int, replicas: int) -> None:
    pg = os.environ.get("AYON_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis = os.environ.get("AYON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"ayon_bench_installer_{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="ayon-bench-installer-"))
    settings = Settings(
        postgres_url=with_database(pg, name),
        redis_url=redis,
        redis_key_prefix=f"bench_{name}",
        storage_dir=str(work / "storage"),
        addons_dir=str(work / "addons"),
    )
    try:
        await run_setup(settings)
        runtime = Runtime.create(settings)
        try:
            await create_user(runtime.db, "admin", password=ADMIN_PASSWORD, data={"isAdmin": True})
        finally:
            await runtime.close()
        archive = work / "bench.zip"
        build_zip(archive, mib)
        size_bytes = archive.stat().st_size
        size = size_bytes / CHUNK
        print(f"addon zip: {size:.0f} MiB; {replicas} replicas on one machine\n")
        ours = await run_ours(settings, work, archive, size_bytes, replicas)
        ayon = await run_ayon_style(work, archive, replicas)
    finally:
        conn = await asyncpg.connect(with_database(pg, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        shutil.rmtree(work, ignore_errors=True)

    def rss(figures: Figures) -> str:
        each = ", ".join(
            f"{peak:.0f} (+{peak - idle:.0f})"
            for peak, idle in zip(figures.peak_rss, figures.idle_rss, strict=True)
        )
        return f"peak RSS per replica, MiB (growth during the run): {each}"

    print("ours (stored once in PostgreSQL, every replica installs it; 1 upload):")
    print(f"  stored in PostgreSQL (upload committed) after {ours.stored_s:.2f} s")
    print(f"  upload answered after {ours.answer_s:.2f} s (stored and unpacked on the receiver)")
    print(f"  installed on all {replicas} replicas after {ours.all_installed_s:.2f} s")
    print(f"  {rss(ours)}")
    print(f"AYON's approach (body to /tmp, then unzip; {replicas} uploads, one per replica):")
    print(f"  first replica unpacked after {ayon.answer_s:.2f} s")
    print(f"  all {replicas} replicas after {ayon.all_installed_s:.2f} s")
    print(f"  {rss(ayon)}")

    def growth(figures: Figures) -> float:
        return max(p - i for p, i in zip(figures.peak_rss, figures.idle_rss, strict=True))

    print("\nratios ours/AYON's approach, same run:")
    print(f"  time until every replica has it: {ours.all_installed_s / ayon.all_installed_s:.2f}x")
    print(
        f"  bytes the client uploads: {size:.0f} vs {size * replicas:.0f} MiB ({1 / replicas:.2f}x)"
    )
    print(f"  largest RSS growth of a replica: {growth(ours):.0f} vs {growth(ayon):.0f} MiB")
    print(f"  largest RSS growth / package size: {growth(ours) / size:.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ayon-style-server":
        serve_ayon_style(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the addon zip in MiB")
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.mib, args.replicas))
