"""Run the app under uvicorn in this process (the server role).

SIGTERM/SIGINT make uvicorn stop gracefully: stop accepting, let in-flight requests finish
(at most settings.shutdown_timeout), then run the lifespan shutdown (scheduler, workers,
connections). serve() then returns 0. If startup fails it logs one line saying why and returns 1.
"""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from ayon_server.api.app import create_app
from ayon_server.api.state import ServerState
from ayon_server.config import Settings
from ayon_server.maintenance.service import MaintenanceService

log = logging.getLogger(__name__)


class _QuietStartupFailure:
    """Drops the traceback uvicorn would log when the lifespan startup fails.

    The lifespan records the reason in ServerState.startup_error (full traceback at debug
    level); serve() reports it in one line.
    """

    def __init__(self, app: FastAPI):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {"type": message["type"], "message": ""}
            await send(message)

        await self.app(scope, receive, send_quietly)


def run_app(app: FastAPI, settings: Settings) -> int:
    """Serve `app` until SIGTERM/SIGINT; 0 after a graceful stop, 1 if it could not start."""
    config = uvicorn_config(app, settings)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:
        # uvicorn exits this way when the lifespan startup fails or the port cannot be bound.
        state: ServerState = app.state.server
        reason = state.startup_error or (
            f"could not listen on {settings.http_listen_address}:{settings.http_listen_port}"
        )
        log.error("server failed to start: %s", reason)
        return 1
    return 0


def trusted_proxies(settings: Settings) -> list[str]:
    return [item.strip() for item in settings.trusted_proxies.split(",") if item.strip()]


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """X-Forwarded-For/-Proto are believed only from AYON_TRUSTED_PROXIES (default: nobody).

    uvicorn's own default trusts loopback, which let any local client forge its address and
    so dodge the login lockout.
    """
    proxies = trusted_proxies(settings)
    return uvicorn.Config(
        _QuietStartupFailure(app),
        host=settings.http_listen_address,
        port=settings.http_listen_port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or [],
        log_config=None,  # keep the process-wide format (text or JSON) from logging_setup
        access_log=False,  # access_log.log_request logs requests without query strings
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        lifespan="on",
    )


def serve(
    settings: Settings, *, run_maintenance: bool, maintenance: MaintenanceService | None
) -> int:
    app = create_app(settings, run_maintenance=run_maintenance, maintenance=maintenance)
    return run_app(app, settings)
