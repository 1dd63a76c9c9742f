"""How the server shows moments."""

from __future__ import annotations

from datetime import datetime


def isoformat_or_none(moment: datetime | None) -> str | None:
    """ISO 8601 text of a moment, as the API shows it; None stays None."""
    return moment.isoformat() if moment is not None else None
