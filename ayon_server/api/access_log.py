"""One log line per request: method, path, status, duration, client address.

Replaces uvicorn's access log, which prints the query string (where AYON accepts `?token=`).
Headers and query strings are never logged. Probe hits are logged at debug level only.
"""

from __future__ import annotations

import logging

from starlette.types import Scope

log = logging.getLogger("ayon_server.access")

QUIET_PATHS = frozenset({"/api/health", "/api/ready", "/metrics"})


def log_request(scope: Scope, status: int, seconds: float) -> None:
    path = scope.get("path", "")
    client = scope.get("client")
    log.log(
        logging.DEBUG if path in QUIET_PATHS else logging.INFO,
        "%s %s %d %.1f ms %s",
        scope.get("method", "?"),
        path,
        status,
        seconds * 1000,
        client[0] if client else "-",
    )
