"""A TCP relay between a node and a service it needs that a test can cut, freeze and restore.

Freezing holds every byte in both directions with the connections left open: a path that fails
without a reset (a dead switch, a full queue), where the node's client waits on a socket that
never answers. Cutting closes the listening socket (new connections are refused, as when the database host is
down) and every relayed connection (open sessions break mid-way, as on a restart or a network
cut). Restoring listens again on the same port. The relay runs on an event loop of its own, in a
background thread, so the test's synchronous code drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tcp-proxy")
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()  # the loop's own: set and cleared only on its thread
        self._flowing.set()
        # A fixed port chosen once, so the node's DATABASE_URL stays valid across cuts.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.restore()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def restore(self) -> None:
        """Accept and relay connections again."""
        self._run(self._listen())

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        self._run(self._cut())

    def freeze(self) -> None:
        """Stop every byte in both directions, connections kept open (returns once none pass)."""
        self._run(self._set_flowing(False))

    def thaw(self) -> None:
        self._run(self._set_flowing(True))

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _set_flowing(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        await asyncio.gather(
            _pipe(client_reader, upstream_writer, self._flowing),
            _pipe(upstream_reader, client_writer, self._flowing),
        )
        self._writers.difference_update((client_writer, upstream_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            await flowing.wait()  # frozen: hold the bytes, answer nothing
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
