"""The standalone scheduler's heartbeat file and its probe `python -m maintenance.heartbeat`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from ayon_server.config import Settings
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env
from tests.helpers.waiting import wait_until

SCHEDULER_ONLY = {"AYON_RUN_SETUP": "false", "AYON_RUN_SERVER": "false"}


async def probe(path: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "maintenance.heartbeat",
        *args,
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "AYON_MAINTENANCE_HEARTBEAT_FILE": str(path),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode().strip()


async def test_the_probe_fails_without_a_file_and_on_a_stale_one(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    assert await probe(path) == (1, f"no heartbeat: {path} does not exist")
    path.touch()
    code, out = await probe(path)
    assert (code, out.startswith("alive")) == (0, True)
    old = time.time() - 300
    os.utime(path, (old, old))
    code, out = await probe(path, "--max-age", "60")
    assert code == 1
    assert out.startswith(f"stale heartbeat: {path} last touched 30")


async def test_the_scheduler_process_beats_while_it_runs_and_stops_beating_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "alive"
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "entrypoint.py",
        cwd=REPO_ROOT,
        env=subprocess_env(settings, AYON_MAINTENANCE_HEARTBEAT_FILE=str(path), **SCHEDULER_ONLY),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def alive() -> bool:
            return (await probe(path))[0] == 0

        await wait_until(alive, timeout=60, what="the scheduler's heartbeat")
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out.decode()
    assert not path.exists()
    assert (await probe(path))[0] == 1
