"""entrypoint.py: role selection, exit codes, setup-before-server, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from ayon_server.config import Settings
from entrypoint import UsageError, read_roles
from tests.helpers.server import free_port
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env
from tests.helpers.waiting import wait_for_http, wait_until

ROLE_VARS = ("AYON_RUN_SETUP", "AYON_RUN_SERVER", "AYON_RUN_MAINTENANCE")


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "On"])
def test_truthy_values_enable_a_role(value: str) -> None:
    assert read_roles({"AYON_RUN_SERVER": value}).server is True


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "OFF"])
def test_falsy_values_disable_a_role(value: str) -> None:
    assert read_roles({"AYON_RUN_SERVER": value}).server is False


def test_unset_variables_enable_every_role() -> None:
    roles = read_roles({})
    assert (roles.setup, roles.server, roles.maintenance) == (True, True, True)


class Process:
    """entrypoint.py running as a subprocess with its combined output collected."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def finish(self, timeout: float = 60) -> tuple[int, str]:
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode, out.decode()

    async def terminate(self, timeout: float = 60) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        return await self.finish(timeout)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def start(settings: Settings, **env: str) -> Process:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "entrypoint.py",
        cwd=REPO_ROOT,
        env=subprocess_env(settings, AYON_HTTP_LISTEN_PORT=str(port), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Process(proc, port)


async def assert_not_listening(url: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"{url}/api/health", timeout=1)


def roles_env(setup: bool, server: bool, maintenance: bool) -> dict[str, str]:
    flags = ("true" if setup else "false", "1" if server else "0", "yes" if maintenance else "no")
    return dict(zip(ROLE_VARS, flags, strict=True))


async def test_nothing_to_run_exits_2(settings: Settings) -> None:
    process = await start(settings, **roles_env(False, False, False))
    code, out = await process.finish()
    assert code == 2
    assert "nothing to run" in out


@pytest.mark.parametrize("variable", ROLE_VARS)
async def test_a_bad_role_value_exits_2_naming_variable_and_value(
    settings: Settings, variable: str
) -> None:
    process = await start(settings, **{variable: "maybe"})
    code, out = await process.finish()
    assert code == 2
    assert variable in out and "'maybe'" in out
    assert "Traceback" not in out


async def test_a_bad_setting_exits_2_naming_the_variable(settings: Settings) -> None:
    process = await start(settings, AYON_LOG_LEVEL="loud")
    code, out = await process.finish()
    assert code == 2
    assert "AYON_LOG_LEVEL" in out


async def test_setup_alone_exits_0_when_done(settings: Settings) -> None:
    process = await start(settings, **roles_env(True, False, False))
    code, out = await process.finish()
    assert code == 0, out
    assert "setup done" in out


async def test_failed_setup_exits_1_and_never_starts_the_server(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"postgres_url": f"postgres://postgres@127.0.0.1:{free_port()}/x"}
    )
    process = await start(dead, AYON_SETUP_TIMEOUT="1", **roles_env(True, True, True))
    code, out = await process.finish()
    assert code == 1
    assert "setup failed" in out
    await assert_not_listening(process.url)


@pytest.mark.parametrize(
    ("setup", "maintenance"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["server", "setup+server", "server+maintenance", "all"],
)
async def test_server_roles_serve_http_and_stop_gracefully_on_sigterm(
    settings: Settings, setup: bool, maintenance: bool
) -> None:
    process = await start(settings, **roles_env(setup, True, maintenance))
    try:
        assert await wait_for_http(f"{process.url}/api/health", timeout=60) == 200
        async with httpx.AsyncClient(base_url=process.url) as client:
            assert (await client.get("/api/ready")).status_code == 200
            assert (await client.get("/")).status_code == 200
        code, out = await process.terminate()
    finally:
        await process.kill()
    assert code == 0, out
    assert "Traceback" not in out
    if setup:
        assert "setup done" in out
    await assert_not_listening(process.url)


@pytest.mark.parametrize("setup", [False, True], ids=["maintenance", "setup+maintenance"])
async def test_maintenance_without_server_runs_the_scheduler_until_sigterm(
    settings: Settings, setup: bool, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "alive"
    process = await start(
        settings, AYON_MAINTENANCE_HEARTBEAT_FILE=str(heartbeat), **roles_env(setup, False, True)
    )
    try:
        # The heartbeat file appears once the scheduler runs.
        await wait_until(lambda: heartbeat.exists() or process.proc.returncode is not None)
        assert process.proc.returncode is None, "the scheduler process should keep running"
        await assert_not_listening(process.url)
        code, out = await process.terminate()
    finally:
        await process.kill()
    assert code == 0, out
    assert "Traceback" not in out


def test_an_unknown_role_value_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match="AYON_RUN_SETUP"):
        read_roles({"AYON_RUN_SETUP": "2"})
