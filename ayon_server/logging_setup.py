"""Process-wide logging to stderr in text or JSON (AYON_LOG_FORMAT), at AYON_LOG_LEVEL."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from ayon_server.config import Settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.setLevel(settings.log_level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Records down to AYON_LOG_LEVEL_DB must be created for the log collector to store them.
    root.setLevel(min(handler.level, logging.getLevelName(settings.log_level_db.upper())))
    # Library chatter stays at warning unless we debug.
    for noisy in ("asyncio", "apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
