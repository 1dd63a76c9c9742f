"""The in-process half of the log collector: a logging handler and the bounded queue it fills.

`LogQueueHandler.emit()` turns a record into a `LogEntry` and offers it to a `LogQueue`. It never
waits: when the queue is full the record is dropped and counted. The queue's lock is held only
for an append or a pop (never across I/O), so any thread may log. The background worker
(ayon_server.background.log_collector) drains the queue into public.logs; `wait_for()` lets it
sleep until enough records are queued, woken from whichever thread logged the one that counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ayon_server.config import LogLevel

# Loggers (with their children) never stored: the driver that writes the logs must not feed
# them (a write that logs would loop), and the access log, one line per request, stays on stderr.
EXCLUDED_LOGGERS = ("asyncpg", "ayon_server.access")
_EXCLUDED_PREFIXES = tuple(f"{name}." for name in EXCLUDED_LOGGERS)
MAX_MESSAGE_CHARS = 16_384
MAX_CONTEXT_VALUE_CHARS = 1_024

# Set while the collector writes a batch: whatever that task logs meanwhile is not queued.
_writing: ContextVar[bool] = ContextVar("ayon_log_collector_writing", default=False)

# Attributes every LogRecord has, and the extras that get columns of their own; any other
# attribute came from `extra=` and goes into the context.
_NOT_CONTEXT = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "user",
    "project",
}


class LogEntry(NamedTuple):
    """One row of public.logs, in the column order of LOG_COLUMNS."""

    created_at: datetime
    level: LogLevel
    message: str
    module: str | None
    user_name: str | None
    project_name: str | None
    context: dict[str, Any]


LOG_COLUMNS = LogEntry._fields


def level_name(levelno: int) -> LogLevel:
    """The public.logs level of a stdlib level number (custom levels round down)."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


@contextlib.contextmanager
def writing_logs() -> Iterator[None]:
    """Mark the current task as the log writer, so its own records are not queued again."""
    token = _writing.set(True)
    try:
        yield
    finally:
        _writing.reset(token)


def clean_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text PostgreSQL accepts: bounded, without NUL characters or lone surrogates."""
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} characters cut]"
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _context_value(value: Any) -> Any:
    """A JSON value PostgreSQL accepts; anything richer than a scalar is stored as its repr."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    text = value if isinstance(value, str) else repr(value)
    return clean_text(text, MAX_CONTEXT_VALUE_CHARS)


def _excluded(logger_name: str) -> bool:
    return logger_name in EXCLUDED_LOGGERS or logger_name.startswith(_EXCLUDED_PREFIXES)


def _optional_text(value: Any) -> str | None:
    return None if value is None else clean_text(str(value), MAX_CONTEXT_VALUE_CHARS)


class _Waiter:
    """The worker waiting in `LogQueue.wait_for`, and how to wake it from any thread."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.loop = asyncio.get_running_loop()
        self.thread_id = threading.get_ident()
        self.event = asyncio.Event()

    def wake(self) -> None:
        if threading.get_ident() == self.thread_id:
            self.event.set()
            return
        # The loop may have closed since the worker started waiting; then nobody is left to wake.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


class LogQueue:
    """A bounded, thread-safe FIFO of log entries that counts what it had to drop."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a log queue holds at least one record")
        self.maxsize = maxsize
        self.dropped_total = 0
        self._items: deque[LogEntry] = deque()
        self._lock = threading.Lock()
        self._waiter: _Waiter | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, entry: LogEntry) -> bool:
        """Queue an entry, or drop and count it when the queue is full; never waits."""
        with self._lock:
            if len(self._items) >= self.maxsize:
                self.dropped_total += 1
                return False
            self._items.append(entry)
            waiter = self._waiter
            if waiter is None or len(self._items) < waiter.depth:
                return True
            self._waiter = None
        waiter.wake()
        return True

    def take(self, limit: int) -> list[LogEntry]:
        """Up to `limit` entries, oldest first."""
        with self._lock:
            return [self._items.popleft() for _ in range(min(limit, len(self._items)))]

    async def wait_for(self, depth: int, timeout: float | None = None) -> bool:
        """Wait until at least `depth` entries are queued; False when `timeout` passed first.

        Only the put that reaches `depth` wakes the waiter, so a flood of records costs one
        wake-up per batch, not one per record.
        """
        waiter = _Waiter(depth)
        with self._lock:
            if len(self._items) >= depth:
                return True
            self._waiter = waiter
        try:
            async with asyncio.timeout(timeout):
                await waiter.event.wait()
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if self._waiter is waiter:
                    self._waiter = None
        return True


class LogQueueHandler(logging.Handler):
    """Puts records at its level and above on a LogQueue, never blocking the caller.

    The record is formatted here, in the caller's thread (like logging.handlers.QueueHandler),
    because its arguments may change once the call returns. `extra={"user": ..., "project": ...}`
    fill user_name and project_name; other extras become the context.
    """

    def __init__(self, queue: LogQueue, level: LogLevel | int = logging.INFO) -> None:
        super().__init__(level.upper() if isinstance(level, str) else level)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        if _writing.get() or _excluded(record.name):
            return
        try:
            entry = self.entry(record)
        except Exception:
            # The stdlib convention: report a record that cannot be formatted on stderr.
            self.handleError(record)
            return
        self.queue.put(entry)

    def entry(self, record: logging.LogRecord) -> LogEntry:
        attributes = vars(record)
        return LogEntry(
            created_at=datetime.fromtimestamp(record.created, UTC),
            level=level_name(record.levelno),
            message=clean_text(self.format(record)),
            module=clean_text(record.name, MAX_CONTEXT_VALUE_CHARS),
            user_name=_optional_text(attributes.get("user")),
            project_name=_optional_text(attributes.get("project")),
            context={
                clean_text(key, MAX_CONTEXT_VALUE_CHARS): _context_value(attributes[key])
                for key in attributes.keys() - _NOT_CONTEXT
            },
        )
