"""One log line per request: method, path, status, duration, client address.

Replaces uvicorn's access log, which prints the query string (where AYON accepts `?token=`).
Headers and query strings are never logged. Probe hits are logged at debug level only.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ayon_server.access")

QUIET_PATHS = frozenset({"/api/health", "/api/ready", "/metrics"})


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        finally:
            path = scope.get("path", "")
            client = scope.get("client")
            log.log(
                logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                "%s %s %d %.1f ms %s",
                scope.get("method", "?"),
                path,
                status,
                (time.perf_counter() - started) * 1000,
                client[0] if client else "-",
            )
