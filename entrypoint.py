"""The image's entrypoint: run setup, the server and/or maintenance as AYON_RUN_* say.

With arguments it runs them instead, replacing itself (`docker run IMAGE python -m maintenance
--list`), so the command gets the signals and its exit code is the container's.

Exit codes: 0 done or stopped by SIGTERM/SIGINT, 1 setup failed, 2 bad configuration; with a
command, the command's (127 when it cannot be started).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from ayon_server.config import ConfigError, load_settings
from ayon_server.logging_setup import configure_logging

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}
log = logging.getLogger("entrypoint")


class UsageError(Exception):
    """The environment asks for something we cannot do; exit 2."""


class ShutdownRequested(BaseException):
    """SIGTERM/SIGINT arrived while setup ran; unwinds it like KeyboardInterrupt."""


@dataclass(frozen=True)
class Roles:
    setup: bool
    server: bool
    maintenance: bool


def parse_flag(name: str, env: Mapping[str, str]) -> bool:
    raw = env.get(name)
    if raw is None:
        return True
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise UsageError(f"invalid value {raw!r} for {name}: use true/false, 1/0, yes/no or on/off")


def read_roles(env: Mapping[str, str]) -> Roles:
    roles = Roles(
        setup=parse_flag("AYON_RUN_SETUP", env),
        server=parse_flag("AYON_RUN_SERVER", env),
        maintenance=parse_flag("AYON_RUN_MAINTENANCE", env),
    )
    if not (roles.setup or roles.server or roles.maintenance):
        raise UsageError(
            "nothing to run: AYON_RUN_SETUP, AYON_RUN_SERVER and AYON_RUN_MAINTENANCE are all false"
        )
    return roles


def _request_shutdown(signum: int, _frame: object) -> None:
    raise ShutdownRequested(signal.Signals(signum).name)


def _ignore_late_signal(signum: int, _frame: object) -> None:
    # uvicorn re-raises the signal that stopped it once it is done; we have already shut down.
    log.debug("%s received after shutdown", signal.Signals(signum).name)


def run_command(argv: list[str]) -> int:
    """Replace this process with `argv`; return only when it cannot be started."""
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"entrypoint: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr)
    return 127


def main(argv: list[str] | None = None) -> int:
    command = sys.argv[1:] if argv is None else argv
    if command:
        return run_command(command)
    try:
        roles = read_roles(os.environ)
        settings = load_settings()
    except (UsageError, ConfigError) as exc:
        print(f"entrypoint: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)

    if roles.setup:
        from setup.__main__ import run_setup
        from setup.database import SetupError

        signal.signal(signal.SIGTERM, _request_shutdown)
        signal.signal(signal.SIGINT, _request_shutdown)
        try:
            asyncio.run(run_setup(settings))
        except ShutdownRequested as exc:
            log.info("setup interrupted by %s; stopping", exc)
            return 0
        except SetupError as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            log.debug("setup crashed", exc_info=True)
            print(f"setup failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            return 1

    signal.signal(signal.SIGTERM, _ignore_late_signal)
    signal.signal(signal.SIGINT, _ignore_late_signal)
    if roles.server:
        from ayon_server.api.server import serve
        from maintenance.service import MaintenanceProcedure

        return serve(
            settings, run_maintenance=roles.maintenance, maintenance=MaintenanceProcedure()
        )
    if roles.maintenance:
        from maintenance.scheduler import run_scheduler_process

        return run_scheduler_process(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
