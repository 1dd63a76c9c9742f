"""Running a server for a test: the app in this process (over ASGI, or under uvicorn on a real
socket), or a real `python entrypoint.py` process (setup and maintenance off) on a free port
(`free_port`)."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from ayon_server.api.app import create_app
from ayon_server.config import Settings
from ayon_server.lib.embedded import free_port
from ayon_server.runtime import Runtime
from maintenance.service import MaintenanceProcedure
from tests.helpers.settings import PYTHON, REPO_ROOT, subprocess_env
from tests.helpers.waiting import wait_for_http


def server_app(
    settings: Settings, *, run_maintenance: bool = False, runtime: Runtime | None = None
) -> FastAPI:
    """The app as entrypoint.py builds it: create_app with the maintenance procedure handed in."""
    return create_app(
        settings,
        run_maintenance=run_maintenance,
        runtime=runtime,
        maintenance=MaintenanceProcedure(),
    )


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client talking to it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@asynccontextmanager
async def uvicorn_in_process(app: FastAPI) -> AsyncIterator[str]:
    """The app under uvicorn on this event loop, on a free port; its base URL. For tests that
    need a real socket (a websocket client, a browser) and still reach into the app."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _server_env(settings: Settings, port: int, **env: str) -> dict[str, str]:
    return subprocess_env(
        settings,
        **{
            "AYON_RUN_SETUP": "false",
            "AYON_RUN_MAINTENANCE": "false",
            "AYON_HTTP_LISTEN_ADDRESS": "127.0.0.1",
            "AYON_HTTP_LISTEN_PORT": str(port),
            **env,
        },
    )


@asynccontextmanager
async def server_process(settings: Settings, **env: str) -> AsyncIterator[str]:
    """A server on a free port, answering its health check; its base URL.

    Output goes to a file, not a pipe nobody reads, so a chatty server never blocks; it is
    printed when the block fails.
    """
    port = free_port()
    with tempfile.TemporaryFile() as output:
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "entrypoint.py",
            cwd=REPO_ROOT,
            env=_server_env(settings, port, **{"AYON_SHUTDOWN_TIMEOUT": "5", **env}),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            await wait_for_http(f"http://127.0.0.1:{port}/api/health")
            yield f"http://127.0.0.1:{port}"
        except BaseException:
            output.seek(0)
            print(output.read().decode(errors="replace")[-5000:])
            raise
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), timeout=15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@asynccontextmanager
async def entrypoint_process(
    settings: Settings, port: int, maintenance: str = "false", **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A server starting on `port`, its output piped for the test to read; killed at the end.

    The test drives it (waits for it, signals it, reads its exit code and output).
    """
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "entrypoint.py",
        cwd=REPO_ROOT,
        env=_server_env(
            settings,
            port,
            **{"AYON_RUN_MAINTENANCE": maintenance, "AYON_SHUTDOWN_TIMEOUT": "10", **env},
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
