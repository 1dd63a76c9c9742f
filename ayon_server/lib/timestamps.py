"""How the server shows and reads moments: ISO 8601 out, UTC when a time comes without a zone."""

from __future__ import annotations

from datetime import UTC, datetime


def isoformat_or_none(moment: datetime | None) -> str | None:
    """ISO 8601 text of a moment, as the API shows it; None stays None."""
    return moment.isoformat() if moment is not None else None


def assume_utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC, like every time the server stores; None stays None."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
