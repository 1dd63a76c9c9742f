"""entrypoint.py with arguments runs that command instead of the roles (`docker run IMAGE cmd`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from ayon_server.config import Settings
from maintenance.tasks import TASK_NAMES
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env


async def run_entrypoint(settings: Settings, *args: str, **env: str) -> tuple[int, str, str]:
    # Like the image: the environment's `python` comes first on PATH.
    env.setdefault("PATH", f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "entrypoint.py",
        *args,
        cwd=REPO_ROOT,
        env=subprocess_env(settings, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_a_command_runs_instead_of_the_roles(settings: Settings) -> None:
    # A role variable that would stop the roles with exit 2 is not even read.
    code, out, err = await run_entrypoint(
        settings, "python", "-m", "maintenance", "--list", AYON_RUN_SERVER="bogus"
    )
    assert code == 0, err
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == list(TASK_NAMES)
    assert "invalid value" not in err


async def test_the_commands_exit_code_is_the_entrypoints(settings: Settings) -> None:
    code, _, err = await run_entrypoint(settings, "python", "-m", "maintenance", "--task", "nope")
    assert code == 2
    assert "unknown task 'nope'" in err
    code, _, _ = await run_entrypoint(settings, PYTHON, "-c", "raise SystemExit(7)")
    assert code == 7


async def test_a_command_that_does_not_exist_exits_127_with_one_line(settings: Settings) -> None:
    code, out, err = await run_entrypoint(settings, "no-such-command-here")
    assert code == 127
    assert out == ""
    assert err.strip().splitlines() == [
        "entrypoint: cannot run 'no-such-command-here': No such file or directory"
    ]
