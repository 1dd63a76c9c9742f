"""One middleware that times every HTTP request and hands (scope, status, seconds) to observers.

The access log and the request metrics both need the final status and the duration; measuring
them once here keeps the two from wrapping every request separately.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called once per HTTP request, after the response (or the failure).
RequestObserver = Callable[[Scope, int, float], None]


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp, observers: Sequence[RequestObserver]):
        self.app = app
        self.observers = tuple(observers)

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
            elapsed = time.perf_counter() - started
            for observer in self.observers:
                observer(scope, status, elapsed)
