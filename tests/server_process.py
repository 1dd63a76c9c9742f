"""`python entrypoint.py` as a separate process, for tests that need a real server.

Output goes to a file, not a pipe nobody reads, so a chatty server never blocks; it is printed
when the block fails.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ayon_server.config import Settings
from tests.conftest import PYTHON, REPO_ROOT, free_port, subprocess_env, wait_for_http


@asynccontextmanager
async def server_process(settings: Settings, **env: str) -> AsyncIterator[str]:
    """`python entrypoint.py` (server role only) on a free port; its base URL.

    Output goes to a file and is printed when the block fails.
    """
    port = free_port()
    with tempfile.TemporaryFile() as output:
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "entrypoint.py",
            cwd=REPO_ROOT,
            env=subprocess_env(
                settings,
                AYON_RUN_SETUP="false",
                AYON_RUN_MAINTENANCE="false",
                AYON_HTTP_LISTEN_ADDRESS="127.0.0.1",
                AYON_HTTP_LISTEN_PORT=str(port),
                AYON_SHUTDOWN_TIMEOUT="5",
                **env,
            ),
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
                proc.kill()
                await proc.wait()
