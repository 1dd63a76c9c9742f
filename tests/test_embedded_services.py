"""The embedded default: private PostgreSQL and Redis from pip-installed packages (.local/)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ayon_server.api.app import create_app
from ayon_server.lib.embedded import EmbeddedServiceError, EmbeddedServices, answers
from ayon_server.lib.postgres import with_database
from setup.__main__ import run_setup
from tests.helpers.server import serving
from tests.helpers.settings import PYTHON, REPO_ROOT, RUN_ID, make_settings


@pytest.fixture
def local_root(tmp_path: Path) -> Iterator[Path]:
    """A directory under .local/ of the checkout, like `make run` uses.

    Not tmp_path itself: as root, PostgreSQL runs as `nobody`, who cannot enter pytest's
    private temporary directory.
    """
    root = REPO_ROOT / ".local" / f"test-embedded-{RUN_ID}-{tmp_path.name}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_embedded_services_serve_setup_and_the_server_then_stop_without_a_trace(
    local_root: Path,
) -> None:
    root = local_root
    services = EmbeddedServices(root, ephemeral=True)
    try:
        pg_url = await asyncio.to_thread(services.postgres)
        redis_url = await asyncio.to_thread(services.redis)
        settings = make_settings(
            pg_url, redis_url, "ayon", admin_user="admin", admin_password="embedded pw"
        )
        await run_setup(settings)
        async with serving(create_app(settings)) as client:
            ready = await client.get("/api/ready")
            login = await client.post(
                "/api/auth/login", json={"name": "admin", "password": "embedded pw"}
            )
        conn = await asyncpg.connect(with_database(pg_url, "ayon"))
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(services.stop)
    assert ready.status_code == 200, ready.text
    assert login.status_code == 200
    assert int(version.split(".")[0]) >= 16
    assert not answers(pg_url) and not answers(redis_url)
    assert not root.exists()


async def test_a_postgres_that_cannot_start_is_one_clear_error_with_its_log(
    local_root: Path,
) -> None:
    data = local_root / "postgres"
    data.mkdir(parents=True)
    data.chmod(0o700)
    (data / "PG_VERSION").write_text("9\n")  # a data directory of another major version
    if os.geteuid() == 0:
        shutil.chown(data, "nobody")
    services = EmbeddedServices(local_root)
    with pytest.raises(EmbeddedServiceError) as caught:
        await asyncio.to_thread(services.postgres)
    services.stop()
    message = str(caught.value)
    assert message.startswith("embedded PostgreSQL exited with code")
    assert "postgresql.conf" in message or "incompatible" in message or "PG_VERSION" in message


async def test_configured_urls_are_passed_through_and_the_exit_code_kept(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AYON_POSTGRES_URL": "postgres://example@db.invalid:5432/x",
        "AYON_REDIS_URL": "redis://cache.invalid:6379/0",
    }
    script = "import os, sys; print(os.environ['AYON_POSTGRES_URL']); sys.exit(3)"
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "ayon_server.lib.embedded",
        "--root",
        str(tmp_path / "local"),
        "--",
        PYTHON,
        "-c",
        script,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 3
    assert out.decode().strip() == "postgres://example@db.invalid:5432/x"
    assert "(from the environment)" in err.decode()
    assert not (tmp_path / "local" / "postgres").exists()  # nothing embedded was started


def _namespace_command(work: Path) -> list[str]:
    """A fresh machine: own network (only loopback) and an empty /run (no Docker socket)."""
    inner = (
        "ip link set lo up && mount -t tmpfs tmpfs /run && "
        f"exec {PYTHON} -m tests.fresh_machine {work}"
    )
    userns = [] if os.geteuid() == 0 else ["--map-current-user"]
    return ["unshare", *userns, "-n", "-m", "--propagation", "private", "sh", "-c", inner]


async def test_the_readme_commands_work_on_a_machine_with_nothing_listening(
    local_root: Path,
) -> None:
    assert shutil.which("unshare") and shutil.which("ip") and shutil.which("make")
    proc = await asyncio.create_subprocess_exec(
        *_namespace_command(local_root),
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 900)
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    # The fresh machine: nothing on the default ports, no Docker.
    assert not result["local_postgres_answers"] and not result["local_redis_answers"]
    assert not result["docker_socket"]
    # make run: embedded services, a working server, and nothing left running after Ctrl-C.
    assert result["ready"] == 200, result["make_run_tail"]
    assert result["login"] == 200 and result["info"] == 200
    assert all(o.startswith("(embedded") for o in result["origins"].values()), result
    assert sorted(result["origins"]) == ["AYON_POSTGRES_URL", "AYON_REDIS_URL"]
    assert result["graceful_stop"] is True  # Ctrl-C stopped the server gracefully
    assert result["answering_after_stop"] == []
    assert result["postmaster_pid_left"] is False
    # make test: the suite's fixtures start their own embedded services.
    assert result["make_test"] == 0, result["make_test_tail"]
