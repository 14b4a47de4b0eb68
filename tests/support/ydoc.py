"""A Yjs client in Python: a pycrdt document kept in sync with a task's shared description.

It speaks the y-websocket protocol over the `websockets` library the way y-websocket's provider
does: on connect it sends sync step 1 (its state vector) and answers the server's step 1 with
step 2; every local change goes out as an update; awareness states are sent and received. The
sync messages are read and answered with pycrdt's own protocol helpers (`handle_sync_message`),
not the server's code. Use it inside one event loop (pycrdt documents stay on their thread).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pycrdt import (
    Awareness,
    Doc,
    Encoder,
    Text,
    TransactionEvent,
    YMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def doc_url(ws_url: str, task_id: str, token: str) -> str:
    """`ws://host/api/v1/ws` (a RunningServer's ws_url) → the task's document URL with its token."""
    base = ws_url.rsplit("/ws", 1)[0]
    return f"{base}/tasks/{task_id}/doc?token={token}"


class YDocClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("description", type=Text)
        self.awareness = Awareness(self.doc)
        self.others: dict[int, Any] = {}  # awareness states of other clients, by client id
        self.synced = asyncio.Event()  # the server's step 2 arrived
        self.changed = asyncio.Event()  # set on every change the server sends
        self.close_code: int | None = None
        self._conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._applying = False
        self._sending: set[asyncio.Task[None]] = set()  # local changes on their way out
        self.doc.observe(self._on_change)

    # --- connection -----------------------------------------------------------------------------

    async def connect(self) -> YDocClient:
        self.synced.clear()
        self.close_code = None
        self._conn = await connect(self.url, open_timeout=10, max_size=None)
        self._reader = asyncio.create_task(self._read(self._conn))
        await self._send(create_sync_message(self.doc))  # (a server may close at once: see `closed`)
        await self.send_awareness()
        return self

    async def disconnect(self) -> None:
        """Close after every local change made so far has been sent."""
        if self._sending:
            await asyncio.gather(*self._sending)
        if self._conn is not None:
            await self._conn.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._conn = None

    async def __aenter__(self) -> YDocClient:
        return await self.connect()

    async def __aexit__(self, *_: object) -> None:
        await self.disconnect()

    async def closed(self, within: float = 10) -> int | None:
        """Wait until the server closes the connection; its close code."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        return self.close_code

    # --- editing --------------------------------------------------------------------------------

    def insert(self, index: int, value: str) -> None:
        self.text.insert(index, value)

    def delete(self, start: int, length: int) -> None:
        del self.text[start : start + length]

    def value(self) -> str:
        return str(self.text)

    async def send_awareness(self, state: dict[str, Any] | None = None) -> None:
        if state is not None:
            self.awareness.set_local_state(state)
        if self._conn is not None and self.awareness.get_local_state() is not None:
            update = self.awareness.encode_awareness_update([self.doc.client_id])
            await self._send(create_awareness_message(update))

    async def send_raw(self, frame: bytes | str) -> None:
        assert self._conn is not None
        await self._conn.send(frame)

    async def wait_for(self, predicate: Any, within: float = 10) -> None:
        """Until `predicate()` holds, re-checked after every change the server sends."""
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    # --- internals ------------------------------------------------------------------------------

    def _on_change(self, event: TransactionEvent) -> None:
        if self._applying or self._conn is None:
            return
        message = create_update_message(event.update)
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, frame: bytes) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await self._conn.send(frame)

    async def _read(self, conn: ClientConnection) -> None:
        try:
            async for frame in conn:
                assert isinstance(frame, bytes), "the document endpoint sends binary frames only"
                await self._handle(frame)
        except ConnectionClosed:
            pass
        finally:
            received = conn.protocol.close_rcvd
            self.close_code = received.code if received is not None else None
            self.changed.set()

    async def _handle(self, frame: bytes) -> None:
        if frame[0] == YMessageType.SYNC:
            self._applying = True
            try:
                reply = handle_sync_message(frame[1:], self.doc)
            finally:
                self._applying = False
            if reply is not None:
                await self._send(reply)
            if frame[1] == 1:  # step 2: the server's state is here
                self.synced.set()
        elif frame[0] == YMessageType.AWARENESS:
            self.awareness.apply_awareness_update(read_message(frame[1:]), "remote")
            self.others = {
                client: state
                for client, state in self.awareness.states.items()
                if client != self.doc.client_id
            }
        self.changed.set()


def awareness_frame(entries: list[tuple[int, int, str]]) -> bytes:
    """An awareness message of (client id, clock, JSON state) entries, as any client could send,
    built with pycrdt's encoder (y-protocols: varuint count, then id, clock, string per client)."""
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for client, clock, state in entries:
        encoder.write_var_uint(client)
        encoder.write_var_uint(clock)
        encoder.write_var_uint(len(state.encode()))  # write_var_string writes characters, not bytes
        encoder.stream.append(state.encode())
    return bytes(create_awareness_message(encoder.to_bytes()))
