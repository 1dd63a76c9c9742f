"""The standalone scheduler's liveness signal: a file it touches while its event loop runs.

The maintenance role without the server has no HTTP endpoint, so a probe cannot ask it. The
scheduler process touches this file every HEARTBEAT_SECONDS while its scheduler is running, and
removes it when it stops; `python -m maintenance.heartbeat` (the probe: Kubernetes exec, Docker
HEALTHCHECK) exits 0 while the file is fresh and 1 when it is missing or stale, i.e. the loop
is stuck or the scheduler stopped. It reads only the standard library, so a probe is cheap.

    AYON_MAINTENANCE_HEARTBEAT_FILE   where the file lives (default /tmp/ayon-maintenance.alive)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ENV_NAME = "AYON_MAINTENANCE_HEARTBEAT_FILE"
DEFAULT_PATH = "/tmp/ayon-maintenance.alive"
HEARTBEAT_SECONDS = 10.0
MAX_AGE_SECONDS = 60.0

log = logging.getLogger(__name__)


def heartbeat_path(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(ENV_NAME) or DEFAULT_PATH)


def _touch(path: Path) -> None:
    path.touch()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def beat(path: Path, alive: Callable[[], bool], interval: float = HEARTBEAT_SECONDS) -> None:
    """Touch `path` every `interval` seconds while `alive()`; remove it when cancelled.

    The touch runs on the event loop itself (a microsecond-sized write): a blocked loop is
    exactly what the probe must notice.
    """
    warned = False
    try:
        while True:
            if alive():
                try:
                    _touch(path)
                    warned = False
                except OSError as exc:
                    if not warned:  # a probe will report it; say why once
                        log.warning("cannot write the heartbeat file %s: %s", path, exc)
                        warned = True
            await asyncio.sleep(interval)
    finally:
        _remove(path)


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last beat; None when there is no heartbeat file."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maintenance.heartbeat",
        description="Exit 0 while the maintenance scheduler's heartbeat is fresh, else 1.",
    )
    parser.add_argument("--max-age", type=float, default=MAX_AGE_SECONDS, metavar="SECONDS")
    args = parser.parse_args(argv)
    path = heartbeat_path()
    seconds = age(path)
    if seconds is None:
        print(f"no heartbeat: {path} does not exist", file=sys.stderr)
        return 1
    if seconds > args.max_age:
        print(f"stale heartbeat: {path} last touched {seconds:.0f} s ago", file=sys.stderr)
        return 1
    print(f"alive: heartbeat {seconds:.0f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main())
