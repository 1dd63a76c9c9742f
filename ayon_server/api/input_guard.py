"""Rejects hostile input before any route sees it.

* JSON bodies larger than AYON_MAX_JSON_BYTES get 413, read no further (by Content-Length when
  given, else as the body streams in).
* JSON bodies that PostgreSQL or the JSON encoder cannot take — NUL characters, lone surrogates,
  NaN/Infinity, numbers that overflow to infinity, malformed text — get 400.
* NUL or undecodable bytes in the path or the query string get 400.

Routes that parse other content types (uploads) are passed through untouched, and so are the
raw-body uploads of RAW_UPLOADS whatever their Content-Type: the AYON client sends addon zips and
packages labelled application/json, and they must stream, not be read whole.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ayon_server.api.body_timeout import RequestBodyTimeout
from ayon_server.api.errors import error_body, error_headers

# (method, path) of the routes that stream a raw body labelled as JSON by the AYON client.
RAW_UPLOADS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"^/api/addons/install/?$")),
    ("PUT", re.compile(r"^/api/desktop/(dependencyPackages|installers)/[^/]+$")),
)


def is_raw_upload(scope: Scope) -> bool:
    method, path = scope.get("method", ""), scope.get("path", "")
    return any(method == m and pattern.match(path) for m, pattern in RAW_UPLOADS)


class InputRejected(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise InputRejected(400, f"JSON body contains {name}, which is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InputRejected(400, "JSON body contains a number out of range")
    return value


def _check_strings(value: Any, depth: int = 0) -> None:
    if depth > 200:
        raise InputRejected(400, "JSON body is nested too deeply")
    if isinstance(value, str):
        _check_text(value, "JSON body")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, "JSON body")
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InputRejected(400, f"{where} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputRejected(400, f"{where} contains a lone surrogate") from None


def check_json_body(raw: bytes) -> None:
    """Raise InputRejected(400) if `raw` is JSON that cannot be stored as it is.

    Bytes that are not JSON at all pass: the route decides (a JSON route answers 400, an upload
    route told the wrong content type answers 415).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except InputRejected:
        raise
    except RecursionError:
        raise InputRejected(400, "JSON body is nested too deeply") from None
    except ValueError:
        return
    _check_strings(value)


def check_url(scope: Scope) -> None:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    query = scope.get("query_string", b"")
    for where, data in (("path", raw_path), ("query string", query)):
        decoded = unquote_to_bytes(data.replace(b"+", b" ") if where == "query string" else data)
        if b"\x00" in decoded:
            raise InputRejected(400, f"Request {where} contains a NUL character")
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise InputRejected(400, f"Request {where} is not valid UTF-8") from None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return None


def _is_json(scope: Scope) -> bool:
    media = (_header(scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _content_length(scope: Scope) -> int | None:
    try:
        return int(_header(scope, b"content-length") or b"")
    except ValueError:
        return None


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp, max_json_bytes: int):
        self.app = app
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            check_url(scope)
            if scope["type"] == "http" and _is_json(scope) and not is_raw_upload(scope):
                receive = await self._read_json(scope, receive)
        except InputRejected as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse(
                error_body(exc.status, exc.detail, path=scope.get("path", "")),
                status_code=exc.status,
                headers=error_headers(exc.status),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _read_json(self, scope: Scope, receive: Receive) -> Receive:
        limit = self.max_json_bytes
        too_large = InputRejected(413, f"JSON body larger than {limit} bytes")
        length = _content_length(scope)
        if length is not None and length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await receive()
            except RequestBodyTimeout as exc:
                raise InputRejected(exc.status, exc.detail) from None
            if message["type"] == "http.disconnect":
                return _replay([message])
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            check_json_body(body)
        return _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
