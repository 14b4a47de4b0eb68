"""A TCP proxy that a test can freeze: bytes stop flowing both ways, connections stay open.

That is how a network path fails without a reset (a dead switch, a full queue): the node's
client of Redis or PostgreSQL waits on a socket that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests.support.processes import free_port


class FreezableProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()  # the loop's own: set and cleared on its thread
        self._flowing.set()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"proxy-{self.port}")
        self._thread.start()
        self._started.wait(10)

    def freeze(self) -> None:
        """Stop every byte in both directions (returns once no more pass)."""
        asyncio.run_coroutine_threadsafe(self._set_flowing(False), self._loop).result(5)

    def thaw(self) -> None:
        asyncio.run_coroutine_threadsafe(self._set_flowing(True), self._loop).result(5)

    async def _set_flowing(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shut(self) -> None:
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer),
            self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # frozen: hold the bytes, answer nothing
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()
