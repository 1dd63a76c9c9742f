"""Exceptions that domain code raises to answer a request with a given status.

They live in the core so domain packages can raise them without importing the API layer;
ayon_server.api.errors turns each into AYON's error body `{"code": <status>, "detail": "<msg>"}`.
Keyword arguments become extra fields of the body.
"""

from __future__ import annotations

from typing import Any


class AyonException(Exception):
    """A failure the client should see, with its HTTP status and a human-readable detail."""

    status: int = 500
    detail: str = "Internal server error"

    def __init__(self, detail: str | None = None, *, status: int | None = None, **extra: Any):
        if detail is not None:
            self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra
        super().__init__(self.detail)


class BadRequestException(AyonException):
    status = 400
    detail = "Bad request"


class UnauthorizedException(AyonException):
    """Not logged in. The AYON client drops its token on a 401: use Forbidden for permissions."""

    status = 401
    detail = "Not logged in"


class ForbiddenException(AyonException):
    status = 403
    detail = "Forbidden"


class NotFoundException(AyonException):
    status = 404
    detail = "Not found"


class ConflictException(AyonException):
    status = 409
    detail = "Conflict"


class UnsupportedMediaException(AyonException):
    status = 415
    detail = "Unsupported media type"


class TooManyRequestsException(AyonException):
    status = 429
    detail = "Too many requests"


class ServiceUnavailableException(AyonException):
    """A dependency is down; the AYON client retries 503 answers."""

    status = 503
    detail = "Service unavailable, retry later"
