"""The server role as a real process: `python entrypoint.py` under uvicorn.

Graceful stop on SIGTERM (in-flight requests finish, exit 0, port closed) and a startup
failure reported in one line with exit code 1.
"""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx

from ayon_server.config import Settings
from ayon_server.frontend.status_html import format_time
from ayon_server.runtime import Runtime
from tests.helpers.maintenance import schedule_nothing_due
from tests.helpers.server import entrypoint_process, free_port
from tests.helpers.waiting import wait_for_http


def port_is_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_the_server_stops_gracefully_on_sigterm_and_exits_0(settings: Settings) -> None:
    port = free_port()
    async with entrypoint_process(settings, port) as proc:
        assert await wait_for_http(f"http://127.0.0.1:{port}/api/health") == 200
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/api/ready")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = output.decode()
    assert proc.returncode == 0, text
    assert "Application shutdown complete" in text
    assert "Traceback" not in text
    assert not port_is_open(port)


async def test_with_maintenance_enabled_the_scheduler_runs_in_the_server_and_stops_with_it(
    runtime: Runtime, clean_tables: None
) -> None:
    next_fire = await schedule_nothing_due(runtime.db)
    port = free_port()
    try:
        async with entrypoint_process(runtime.settings, port, maintenance="true") as proc:
            assert await wait_for_http(f"http://127.0.0.1:{port}/api/health") == 200
            async with httpx.AsyncClient() as client:
                page = (await client.get(f"http://127.0.0.1:{port}/")).text
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        await runtime.db.execute("DELETE FROM public.config WHERE key = 'maintenance'")
    assert format_time(next_fire) in page
    assert proc.returncode == 0, output.decode()
    assert "Traceback" not in output.decode()


async def test_an_in_flight_request_finishes_before_the_server_stops(settings: Settings) -> None:
    # A Redis that accepts connections and never answers makes /api/ready take its full
    # check timeout: long enough to send SIGTERM while the request is in flight.
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    silent_redis = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    redis_port = silent_redis.sockets[0].getsockname()[1]
    port = free_port()
    try:
        async with entrypoint_process(
            settings, port, AYON_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0"
        ) as proc:
            assert await wait_for_http(f"http://127.0.0.1:{port}/api/health") == 200
            async with httpx.AsyncClient() as client:
                request = asyncio.create_task(
                    client.get(f"http://127.0.0.1:{port}/api/ready", timeout=20)
                )
                await asyncio.sleep(0.5)
                proc.send_signal(signal.SIGTERM)
                response = await request
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        silent_redis.close()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["detail"].startswith("no answer within")
    assert proc.returncode == 0, output.decode()


async def test_a_port_already_in_use_exits_1_with_one_clear_line(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with entrypoint_process(settings, port) as proc:
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = output.decode()
    assert proc.returncode == 1, text
    assert f"server failed to start: could not listen on 127.0.0.1:{port}" in text
    assert "Traceback" not in text


async def test_a_failing_startup_exits_1_with_one_clear_line(settings: Settings) -> None:
    port = free_port()
    async with entrypoint_process(
        settings, port, AYON_REDIS_URL="redis://127.0.0.1:notaport/0"
    ) as (proc):
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = output.decode()
    assert proc.returncode == 1, text
    failure_lines = [line for line in text.splitlines() if "server failed to start" in line]
    assert len(failure_lines) == 1, text
    assert "ValueError" in failure_lines[0] and "notaport" in failure_lines[0]
    assert "Traceback" not in text
    assert not port_is_open(port)
