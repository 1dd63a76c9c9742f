"""FaultProxy: a TCP proxy a test puts between the server and PostgreSQL or Redis.

The shared services are never touched: a test points the server at the proxy and makes the
faults there.

* `cut()`: every open connection is reset and new ones are refused, as when the server died.
* `stall()`: connections stay open (new ones are accepted) but no byte is forwarded, as when the
  server is frozen; `restore()` forwards what was held.
* `drop_connections()`: the open connections are reset, new ones work (a restart, quickly over).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

from ayon_server.lib.embedded import free_port


class FaultProxy:
    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        default_port = 6379 if parts.scheme.startswith("redis") else 5432
        self.target = (parts.hostname or "127.0.0.1", parts.port or default_port)
        self.port = free_port()
        netloc = f"127.0.0.1:{self.port}"
        if parts.username:
            password = f":{parts.password}" if parts.password else ""
            netloc = f"{parts.username}{password}@{netloc}"
        self.url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        """Client connections currently held (each has its upstream twin)."""
        return len(self._connections) // 2

    async def start(self) -> None:
        await self.restore()

    async def restore(self) -> None:
        """Forward again: accept connections and pass on what stalled ones held."""
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.drop_connections()
        if server is not None:
            await server.wait_closed()
        self._flowing.set()

    def drop_connections(self) -> None:
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()

    def stall(self) -> None:
        """Hold every byte in both directions until restore() (or cut())."""
        self._flowing.clear()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            self._connections |= {writer, upstream_writer}
            await asyncio.gather(
                self._pipe(reader, upstream_writer),
                self._pipe(upstream_reader, writer),
                return_exceptions=True,  # a reset connection ends its pipes with an error
            )
            self._connections -= {writer, upstream_writer}
        finally:
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


@contextlib.asynccontextmanager
async def fault_proxy(target_url: str) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(target_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
