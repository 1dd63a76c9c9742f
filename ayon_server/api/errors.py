"""The one mapping from exceptions to HTTP error responses.

* AyonException          -> its status, `{"code", "detail", ...extra}`
* request validation     -> 400 (never 422), with the pydantic errors
* unknown /api route     -> 404 "API endpoint <path> not found"
* Starlette HTTPException -> its status, `{"code", "detail", "path"}`
* PostgreSQL/Redis down  -> 503 "... database unavailable, retry later" (clients retry 503)
* anything else          -> 500 "Internal server error"; the traceback goes to the log only
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from redis import exceptions as redis_errors
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ayon_server.exceptions import AyonException

log = logging.getLogger(__name__)

INTERNAL_ERROR_DETAIL = "Internal server error"
RETRY_AFTER_SECONDS = "5"
# nginx's status for a request its client abandoned; never sent to anyone, only logged.
CLIENT_CLOSED_REQUEST = 499
MAX_ECHOED_INPUT = 1000

_POSTGRES_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidCatalogNameError,
    # asyncpg left a connection mid-operation ("cannot switch to state ..."): a restart or a
    # cancelled statement broke it; the pool discards it.
    asyncpg.InternalClientError,
)
_REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
)
# Socket-level errors name no library; the frame that raised them tells which client it was.
_CLIENT_PACKAGES = {"asyncpg": "PostgreSQL", "redis": "Redis"}
_TRANSPORT_PACKAGES = set(sys.stdlib_module_names) | {"uvloop", "anyio"}


def error_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"code": status, "detail": detail, **extra}


def unavailable_service(exc: BaseException) -> str | None:
    """Which service (PostgreSQL, Redis) `exc` says cannot be reached; None if it is no outage."""
    if isinstance(exc, _POSTGRES_UNAVAILABLE):
        return "PostgreSQL"
    if isinstance(exc, _REDIS_UNAVAILABLE):
        return "Redis"
    # OSError includes TimeoutError: a stalled backend past AYON_BACKEND_TIMEOUT.
    if isinstance(exc, OSError | asyncpg.InterfaceError):
        return _CLIENT_PACKAGES.get(_raising_package(exc.__traceback__) or "")
    return None


def _raising_package(tb: TracebackType | None) -> str | None:
    """Top-level package of the innermost frame outside the standard library and event loop."""
    package = None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "").partition(".")[0]
        if name not in _TRANSPORT_PACKAGES:
            package = name
        tb = tb.tb_next
    return package


def unexpected_error_response(scope: Scope, exc: Exception) -> JSONResponse:
    method, path = scope.get("method", "?"), scope.get("path", "?")
    service = unavailable_service(exc)
    if service is not None:
        log.warning("%s %s: %s unavailable: %s", method, path, service, exc)
        return JSONResponse(
            error_body(503, f"{service} database unavailable, retry later"),
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    log.error("unhandled error in %s %s", method, path, exc_info=exc)
    return JSONResponse(error_body(500, INTERNAL_ERROR_DETAIL), status_code=500)


class UnexpectedErrorMiddleware:
    """Answers any exception no handler took with a 500/503 JSON body instead of a traceback.

    Sits inside Starlette's ServerErrorMiddleware so the error is handled here, logged once,
    and not re-raised to the server.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except ClientDisconnect:
            # The client left before its request was read (an aborted upload): nobody to
            # answer, nothing wrong with the server. 499 is what the access log and metrics see.
            log.info("%s %s: the client disconnected", scope.get("method"), scope.get("path"))
            if not response_started:
                await send_tracking(
                    {"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []}
                )
                await send_tracking({"type": "http.response.body", "body": b""})
        except Exception as exc:
            if response_started:
                # Headers are out; all the server can still do is drop the connection.
                raise
            await unexpected_error_response(scope, exc)(scope, receive, send)


async def _ayon_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AyonException)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.detail)
    return JSONResponse(
        error_body(exc.status, exc.detail, **exc.extra),
        status_code=exc.status,
        headers=error_headers(exc.status),
    )


def error_headers(status: int) -> dict[str, str] | None:
    """503: when to retry. 408/413: the rest of the body is not read, so the connection ends."""
    if status == 503:
        return {"Retry-After": RETRY_AFTER_SECONDS}
    if status in (408, 413):
        return {"Connection": "close"}
    return None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    path = request.url.path
    body = error_body(
        400,
        f"Request validation error in [{request.method}] {path}",
        path=path,
        errors=jsonable_encoder(exc.errors(), custom_encoder={bytes: _printable_input}),
    )
    return JSONResponse(body, status_code=400)


def _printable_input(raw: bytes) -> str:
    """A raw body echoed in `errors[].input`: any bytes, cut short (it can be an upload)."""
    return raw[:MAX_ECHOED_INPUT].decode("utf-8", errors="replace")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found" and _is_api_path(path):
        detail = f"API endpoint {path} not found"
    return JSONResponse(
        error_body(exc.status_code, detail, path=path),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def install_error_handling(app: FastAPI) -> None:
    app.add_exception_handler(AyonException, _ayon_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_middleware(UnexpectedErrorMiddleware)
