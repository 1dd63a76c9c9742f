"""The README's two commands on a machine with nothing listening: run inside a network namespace.

    unshare -n -m --propagation private -- sh -c 'ip link set lo up &&
        mount -t tmpfs tmpfs /run && exec .venv/bin/python -m tests.fresh_machine DIR'

Only loopback exists there and nothing answers on 5432/6379 (the tmpfs over /run hides a Docker
socket too), so `make run` and `make test` must start the embedded PostgreSQL and Redis. This
checks that `make run` serves (ready, admin login, info) and stops its services on Ctrl-C, and
that `make test ARGS=...` passes a few tests. Prints one JSON object; test_embedded_services.py
asserts on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ayon_server.lib.embedded import LOCAL_POSTGRES_URL, LOCAL_REDIS_URL, answers, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "tests/test_api.py", "-k", "'ready or info'"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AYON_")}
    env.update(extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status = httpx.get(f"{url}/api/ready", timeout=2).status_code
            if status == 200:
                return status
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return 0


def check_make_run(work: Path) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        AYON_HTTP_LISTEN_PORT=str(port),
        AYON_STORAGE_DIR=str(work / "storage"),
        AYON_ADMIN_PASSWORD="fresh machine",
        AYON_SHUTDOWN_TIMEOUT="10",
    )
    log = work / "make-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"LOCAL_DIR={work / 'run'}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    result: dict[str, Any] = {"ready": wait_ready(url, proc)}
    try:
        if result["ready"]:
            login = httpx.post(
                f"{url}/api/auth/login", json={"name": "admin", "password": "fresh machine"}
            )
            result["login"] = login.status_code
            token = login.json().get("token", "")
            info = httpx.get(f"{url}/api/info", headers={"Authorization": f"Bearer {token}"})
            result["info"] = info.status_code
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    result["make_run_exit"] = proc.returncode
    output = log.read_text(errors="replace")
    urls, origins = {}, {}
    for line in output.splitlines():
        name, _, rest = line.partition("=")
        if name in ("AYON_POSTGRES_URL", "AYON_REDIS_URL") and rest:
            urls[name], _, origins[name] = rest.partition(" ")
    result["origins"] = origins
    result["answering_after_stop"] = sorted(name for name, u in urls.items() if answers(u))
    result["postmaster_pid_left"] = (work / "run" / "postgres" / "postmaster.pid").exists()
    result["graceful_stop"] = "Application shutdown complete" in output
    result["make_run_tail"] = output.splitlines()[-15:]
    return result


def check_make_test() -> dict[str, Any]:
    proc = subprocess.run(
        ["make", "--no-print-directory", "test", "ARGS=" + " ".join(PYTEST_ARGS)],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return {"make_test": proc.returncode, "make_test_tail": proc.stdout.splitlines()[-5:]}


def main() -> int:
    work = Path(sys.argv[1]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "local_postgres_answers": answers(LOCAL_POSTGRES_URL),
        "local_redis_answers": answers(LOCAL_REDIS_URL),
        "docker_socket": Path("/var/run/docker.sock").exists(),
    }
    result.update(check_make_run(work))
    result.update(check_make_test())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
