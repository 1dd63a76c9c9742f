"""A request body that stops arriving is refused, not waited for.

Each wait for the next chunk of a request body is bounded by AYON_UPLOAD_READ_TIMEOUT; past it
the request fails with 408 (RequestBodyTimeout) and whatever was received is dropped (uploads
remove their partial file). Once the body is complete, receive() is passed through untouched:
Starlette also calls it to notice a client that leaves during a long response.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ayon_server.exceptions import AyonException


class RequestBodyTimeout(AyonException):
    status = 408
    detail = "The request body stopped arriving; send it again"


class BodyReadTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout: float):
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestBodyTimeout(
                    f"No part of the request body arrived for {self.timeout:g} s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, receive_in_time, send)
