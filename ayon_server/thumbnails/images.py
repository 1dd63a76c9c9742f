"""Which uploads are thumbnails: a supported image type, declared AND recognised in the bytes.

AYON trusts the Content-Type header; we also check the magic bytes, so a file mislabelled as an
image is refused before it is stored and served back to browsers under an image type.
"""

from __future__ import annotations

import base64

from ayon_server.exceptions import BadRequestException, UnsupportedMediaException

# Thumbnails are previews: 10 MiB is far above any sensible one and keeps a request bounded.
MAX_THUMBNAIL_BYTES = 10 * 1024 * 1024

SUPPORTED_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")

# A 1x1 transparent PNG, served where an entity has no thumbnail (AYON's "empty" placeholder).
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def media_type(content_type: str | None) -> str:
    """The supported image type a Content-Type header names; 400 without one, 415 otherwise."""
    if not content_type:
        raise BadRequestException("Content-Type header is required for a thumbnail")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime not in SUPPORTED_TYPES:
        raise UnsupportedMediaException(
            f"Unsupported thumbnail type {mime[:80]!r}: use one of {', '.join(SUPPORTED_TYPES)}"
        )
    return mime


def detected_type(data: bytes) -> str | None:
    """The image type the leading bytes show, or None when they are no supported image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(mime: str, data: bytes) -> None:
    """400 unless the bytes are an image of the declared type."""
    if not data:
        raise BadRequestException("The thumbnail is empty")
    if detected_type(data) != mime:
        raise BadRequestException(f"The uploaded bytes are not a valid {mime} image")
