"""The log collector: a never-blocking handler, batched COPY into public.logs, outages, flush.

Every test logs through a logger of its own (its name is the stored `module`), so rows written by
any other collector running in this process never confuse the assertions. PostgreSQL outages are
real: the collector talks to the test database through a TCP proxy the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from ayon_server.background.log_collector import LogCollector
from ayon_server.config import Settings
from ayon_server.logs.queue_handler import LogEntry, LogQueue, LogQueueHandler, writing_logs
from ayon_server.logs.store import APPLICATION_NAME
from ayon_server.runtime import Runtime
from tests.helpers.server import free_port
from tests.helpers.waiting import wait_until

T = TypeVar("T")
COLLECTOR_MODULE = "ayon_server.background.log_collector"


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll `probe` until `check` accepts its value; fail if that takes longer than `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in time; last value: {value!r:.300}")
        await asyncio.sleep(0.02)


async def stored(runtime: Runtime, module: str) -> list[asyncpg.Record]:
    return await runtime.db.fetch(
        "SELECT * FROM public.logs WHERE module = $1 ORDER BY created_at, id", module
    )


def run_in_thread(target: Callable[[], None]) -> None:
    """Run `target` in another thread; a hang fails the test instead of freezing it."""
    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "logging blocked the calling thread"


@pytest.fixture
def logger() -> logging.Logger:
    """A logger of this test only, emitting every level (pytest leaves the root at WARNING)."""
    result = logging.getLogger(f"tests.log_collector.{secrets.token_hex(4)}")
    result.setLevel(logging.DEBUG)
    return result


@pytest.fixture
async def collectors() -> AsyncIterator[list[LogCollector]]:
    """Collectors a test made; stopped (handler detached) however the test ends."""
    made: list[LogCollector] = []
    yield made
    for collector in made:
        await collector.stop(5.0)


class TcpProxy:
    """Forwards a local port to PostgreSQL; `cut()` and `restore()` make a real outage."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        self.url = urlunsplit(
            (
                parts.scheme,
                f"{parts.username or 'postgres'}@127.0.0.1:{self.port}",
                parts.path,
                parts.query,
                parts.fragment,
            )
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and break the open ones, like a PostgreSQL that died."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,  # a cut connection ends its pipes with a reset
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    result = TcpProxy(settings.postgres_url)
    await result.restore()
    yield result
    await result.cut()


async def test_records_reach_public_logs_in_batches_with_their_fields(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    collector = LogCollector(runtime, batch_size=100, max_delay=0.05)
    collectors.append(collector)
    logging.getLogger().addHandler(collector.handler)  # queue before the worker runs
    before = datetime.now(UTC)
    for number in range(246):
        logger.info("record %d", number)
    logger.warning("render failed on %s", "node7", extra={"user": "alice", "project": "demo"})
    logger.error("with context", extra={"shot": "sh010", "frames": 120, "path": ("a", "b")})
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        logger.exception("publish crashed")
    logger.critical("last one")
    after = datetime.now(UTC)

    collector.start()
    rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 250)

    # 250 records queued before the start make exactly three batches of at most 100.
    assert collector.metrics()["batches_total"] == 3
    assert collector.metrics()["written_total"] == 250
    assert [row["message"] for row in rows[:3]] == ["record 0", "record 1", "record 2"]
    assert all(before <= row["created_at"] <= after for row in rows)
    by_message = {row["message"].splitlines()[0]: row for row in rows}
    warning = by_message["render failed on node7"]
    assert (warning["level"], warning["user_name"], warning["project_name"]) == (
        "warning",
        "alice",
        "demo",
    )
    assert warning["context"] == {}
    assert by_message["with context"]["context"] == {
        "shot": "sh010",
        "frames": 120,
        "path": "('a', 'b')",
    }
    crashed = by_message["publish crashed"]
    assert crashed["level"] == "error"
    assert "Traceback (most recent call last)" in crashed["message"]
    assert "RuntimeError: disk full" in crashed["message"]
    assert by_message["last one"]["level"] == "critical"
    assert by_message["record 0"]["level"] == "info"


async def test_only_records_at_ayon_log_level_db_and_above_are_stored(
    settings: Settings, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    runtime = Runtime.create(settings.model_copy(update={"log_level_db": "warning"}))
    collector = LogCollector(runtime, batch_size=10, max_delay=0.05)
    collectors.append(collector)
    collector.start()
    for level in ("debug", "info", "warning", "error", "critical"):
        getattr(logger, level)(f"a {level} record")

    try:
        rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) >= 3)
        assert [row["level"] for row in rows] == ["warning", "error", "critical"]
    finally:
        await runtime.close()


async def test_a_full_queue_drops_and_counts_without_blocking_and_reports_the_drops_later(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector], clean_tables: None
) -> None:
    collector = LogCollector(runtime, queue_size=10, batch_size=5, max_delay=0.05)
    collectors.append(collector)
    logging.getLogger().addHandler(collector.handler)

    # Nothing drains the queue yet: the 11th record onwards must be dropped, not waited for.
    run_in_thread(lambda: [logger.info("flood %d", number) for number in range(25)])
    assert collector.metrics()["queue_depth"] == 10
    assert collector.metrics()["dropped_total"] == 15

    collector.start()
    warnings = await eventually(
        lambda: runtime.db.fetch(
            "SELECT level, message FROM public.logs WHERE module = $1", COLLECTOR_MODULE
        ),
        lambda rows: len(rows) >= 1,
    )
    assert [tuple(row) for row in warnings] == [
        ("warning", "dropped 15 log records while the queue was full")
    ]
    rows = await stored(runtime, logger.name)
    assert [row["message"] for row in rows] == [f"flood {number}" for number in range(10)]
    assert collector.metrics()["dropped_total"] == 15


async def test_logging_from_other_threads_wakes_the_worker_and_loses_nothing(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    # With a huge max_delay only full batches are written: each must be noticed as it fills,
    # whichever thread logged the record that completed it.
    collector = LogCollector(runtime, batch_size=50, max_delay=3600)
    collectors.append(collector)
    collector.start()

    def log_from_thread(thread: int) -> None:
        for number in range(100):
            logger.info("thread %d record %d", thread, number)

    threads = [threading.Thread(target=log_from_thread, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join, 30)

    rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 400)
    assert {row["message"] for row in rows} == {
        f"thread {t} record {n}" for t in range(4) for n in range(100)
    }
    assert collector.metrics()["batches_total"] == 8
    assert collector.metrics()["dropped_total"] == 0


async def test_stop_writes_every_queued_record_before_it_returns(
    runtime: Runtime, logger: logging.Logger
) -> None:
    collector = LogCollector(runtime, batch_size=1000, max_delay=3600)
    collector.start()
    await wait_until(lambda: collector.state == "running")  # waiting for its first record
    for number in range(300):
        logger.warning("queued %d", number)
    metrics = collector.metrics()
    assert (metrics["queue_depth"], metrics["written_total"]) == (300, 0)

    await collector.stop(10.0)

    assert len(await stored(runtime, logger.name)) == 300
    assert collector.health()["state"] == "stopped"
    assert collector.metrics()["queue_depth"] == 0
    assert collector.handler not in logging.getLogger().handlers


async def test_records_logged_while_writing_or_by_the_database_driver_are_not_queued() -> None:
    queue = LogQueue(100)
    handler = LogQueueHandler(queue, "debug")

    def record(name: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, "message", (), None)

    with writing_logs():
        handler.handle(record("ayon_server.anything"))
    handler.handle(record("asyncpg"))
    handler.handle(record("asyncpg.pool"))
    handler.handle(record("ayon_server.access"))
    assert len(queue) == 0

    handler.handle(record("asyncpgx"))
    handler.handle(record("ayon_server.accessories"))
    assert len(queue) == 2


async def test_text_postgresql_would_refuse_is_stored_in_a_readable_form(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    collector = LogCollector(runtime, batch_size=10, max_delay=0.05)
    collectors.append(collector)
    collector.start()
    logger.warning("nul\x00byte and lone \udcff surrogate", extra={"raw": "a\x00b"})

    rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 1)
    assert rows[0]["message"] == "nul\\x00byte and lone \\udcff surrogate"
    assert rows[0]["context"] == {"raw": "a\\x00b"}


async def test_a_record_the_database_refuses_is_left_out_and_the_rest_of_its_batch_is_written(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    collector = LogCollector(runtime, batch_size=10, max_delay=0.05)
    collectors.append(collector)

    def entry(message: str) -> LogEntry:
        return LogEntry(datetime.now(UTC), "info", message, logger.name, None, None, {})

    # Queued directly, past the handler's cleaning: PostgreSQL refuses NUL in text.
    for message in ("good 1", "bad \x00", "good 2", "good 3"):
        collector.queue.put(entry(message))
    collector.start()

    rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 3)
    assert [row["message"] for row in rows] == ["good 1", "good 2", "good 3"]
    await wait_until(lambda: collector.metrics()["written_total"] == 3)
    assert collector.metrics()["dropped_total"] == 1
    assert collector.health()["restarts"] == 0


async def test_while_postgresql_is_down_logging_never_raises_and_kept_records_follow_later(
    settings: Settings,
    runtime: Runtime,
    logger: logging.Logger,
    collectors: list[LogCollector],
    proxy: TcpProxy,
    clean_tables: None,
) -> None:
    proxied = Runtime.create(settings.model_copy(update={"postgres_url": proxy.url}))
    collector = LogCollector(proxied, queue_size=100, batch_size=10, max_delay=0.02)
    collector.initial_backoff = collector.max_backoff = 0.05
    collectors.append(collector)
    collector.start()
    logger.warning("before the outage")
    await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 1)

    await proxy.cut()
    logger.warning("first during the outage")
    await wait_until(lambda: collector.health()["state"] == "restarting")
    assert collector.health()["lastError"]
    for number in range(30):
        logger.warning("kept %d", number)
    # Far more than the queue holds: the surplus is dropped and counted, the caller never waits.
    run_in_thread(lambda: [logger.warning("surplus %d", number) for number in range(500)])
    assert collector.metrics()["dropped_total"] > 0

    await proxy.restore()
    rows = await eventually(
        lambda: runtime.db.fetch(
            "SELECT message FROM public.logs WHERE module = ANY($1::text[])",
            [logger.name, COLLECTOR_MODULE],
        ),
        lambda rows: any(row["message"].startswith("dropped ") for row in rows),
    )
    messages = {row["message"] for row in rows}
    assert {"before the outage", "first during the outage"} <= messages
    assert {f"kept {number}" for number in range(30)} <= messages
    # One warning for the whole outage, with the same count the metrics export.
    (report,) = [message for message in messages if message.startswith("dropped ")]
    assert report == (
        f"dropped {collector.metrics()['dropped_total']} log records while the queue was full"
    )
    assert collector.health()["state"] == "running"
    await collector.stop(5.0)
    await proxied.close()


async def test_a_writer_connection_killed_while_idle_is_replaced_without_a_restart(
    runtime: Runtime, logger: logging.Logger, collectors: list[LogCollector]
) -> None:
    collector = LogCollector(runtime, batch_size=10, max_delay=0.02)
    collectors.append(collector)
    collector.start()
    logger.warning("before the kill")
    await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 1)

    killed = await runtime.db.fetchval(
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
        FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1
        """,
        APPLICATION_NAME,
    )
    assert killed >= 1
    logger.warning("after the kill")

    rows = await eventually(lambda: stored(runtime, logger.name), lambda rows: len(rows) == 2)
    assert [row["message"] for row in rows] == ["before the kill", "after the kill"]
    assert collector.health()["restarts"] == 0


async def test_stop_while_postgresql_is_down_returns_and_counts_what_it_could_not_write(
    settings: Settings, logger: logging.Logger, collectors: list[LogCollector], proxy: TcpProxy
) -> None:
    proxied = Runtime.create(settings.model_copy(update={"postgres_url": proxy.url}))
    collector = LogCollector(proxied, batch_size=100, max_delay=3600)
    collectors.append(collector)
    collector.start()
    await proxy.cut()
    for number in range(5):
        logger.error("never written %d", number)

    await collector.stop(5.0)

    assert collector.metrics()["dropped_total"] == 5
    assert collector.metrics()["queue_depth"] == 0
    health = collector.health()
    assert health["state"] == "stopped"
    assert health["lastError"]
    await proxied.close()


async def test_the_server_runs_a_log_collector_and_ready_reports_its_queue(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/ready")
    collector = response.json()["checks"]["workers"]["log_collector"]
    assert collector["state"] in ("starting", "running")
    assert collector["queueCapacity"] == 10_000
    assert {"queueDepth", "droppedTotal", "writtenTotal"} <= set(collector)
