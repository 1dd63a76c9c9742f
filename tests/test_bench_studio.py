"""bench/studio.py keeps working: a tiny studio, both runs of the procedure, the report (not
timed: the figures are for the README, measured at scale)."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.helpers.settings import REPO_ROOT


async def test_the_studio_bench_runs_the_procedure_twice_and_reports(
    service_urls: tuple[str, str],
) -> None:
    pg_url, redis_url = service_urls
    env = {k: v for k, v in os.environ.items() if not k.startswith("AYON_")}
    env.update(AYON_BENCH_POSTGRES_URL=pg_url, AYON_BENCH_REDIS_URL=redis_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO_ROOT / "bench" / "studio.py"),
        "--tiny",
        "--settle",
        "0.2",
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=120))[0].decode()
    assert process.returncode == 0, output
    for expected in ("clean_activities", "first run:", "steady run:", "peak RSS", "after"):
        assert expected in output, output
    # The tiny studio's garbage went in the first run.
    first = next(line for line in output.splitlines() if line.strip().startswith("clean_events"))
    assert "deleted" in first, output
