"""The load generator's WebSocket client, written on `asyncio.Protocol` so a receipt costs little.

One `WSClient` is one connection: the HTTP upgrade by hand, server frames (never masked) parsed
in place, client text frames masked with the all-zero key (a valid mask that leaves the payload
as it is, so nothing is XORed). Every text frame is handed, as bytes, to `on_text`, which the
scenario swaps as it goes; it never decodes JSON unless it wants to. Unfragmented binary frames
go to `on_binary` the same way.

Also a minimal HTTP/1.1 keep-alive client (`Http`), for the REST calls of the scenarios.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

TextHandler = Callable[["WSClient", bytes], None]

_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # any 16 bytes, base64; the accept value is not checked
_PACK_LEN16 = struct.Struct("!H").pack
_PACK_LEN64 = struct.Struct("!Q").pack
_UNPACK_LEN16 = struct.Struct("!H").unpack_from
_UNPACK_LEN64 = struct.Struct("!Q").unpack_from
_ZERO_MASK = b"\x00\x00\x00\x00"


def _ignore(client: WSClient, payload: bytes) -> None:
    return None


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (mask key 0: the payload goes out unchanged)."""
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        return head + bytes((0x80 | n,)) + _ZERO_MASK + payload
    if n < 65536:
        return head + b"\xfe" + _PACK_LEN16(n) + _ZERO_MASK + payload
    return head + b"\xff" + _PACK_LEN64(n) + _ZERO_MASK + payload


class WSClient(asyncio.Protocol):
    """One client connection. `opened` resolves when the upgrade answered 101."""

    def __init__(self, host: str, path: str, on_text: TextHandler = _ignore) -> None:
        self.host = host
        self.path = path
        self.on_text = on_text
        self.on_binary: TextHandler = _ignore  # whole binary messages (the document endpoint's)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._buf = b""
        self._upgraded = False
        self._fragments: list[bytes] | None = None
        self.close_code = 0
        # Free slots for the scenarios' bookkeeping on this connection.
        self.tag: Any = None
        self.last_seq = 0
        self.gaps = 0
        self.count = 0
        self.port = 0  # the server port it connected to (which node, with several)

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport.write(
            b"GET " + self.path.encode() + b" HTTP/1.1\r\nHost: " + self.host.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + _KEY + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)

    def data_received(self, data: bytes) -> None:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if not self._upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buf = data
                return
            status = data[: data.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self._upgraded = True
            self.opened.set_result(None)
            data = data[end + 4 :]
        pos = 0
        size = len(data)
        while size - pos >= 2:
            b0 = data[pos]
            n = data[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = _UNPACK_LEN16(data, pos + 2)[0]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = _UNPACK_LEN64(data, pos + 2)[0]
                head = 10
            end = pos + head + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 0x1 and b0 & 0x80:
                self.on_text(self, data[pos + head : end])
            elif opcode == 0x2 and b0 & 0x80:
                self.on_binary(self, data[pos + head : end])
            else:
                self._control(b0, opcode, data[pos + head : end])
            pos = end
        if pos < size:
            self._buf = data[pos:]

    def _control(self, b0: int, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping → pong
            self.send_frame(client_frame(payload, 0xA))
        elif opcode == 0x8:  # close: answer and drop
            self.close_code = _UNPACK_LEN16(payload, 0)[0] if len(payload) >= 2 else 1005
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(payload[:2], 0x8))
                self.transport.close()
        elif opcode in (0x1, 0x0):  # fragmented text
            if opcode == 0x1:
                self._fragments = [payload]
            elif self._fragments is not None:
                self._fragments.append(payload)
            if b0 & 0x80 and self._fragments is not None:
                whole = b"".join(self._fragments)
                self._fragments = None
                self.on_text(self, whole)

    # --- sending --------------------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        self.send_frame(client_frame(payload))

    def send_frame(self, frame: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frame)

    def close(self) -> None:
        """A clean close (close frame, then FIN)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(b"\x03\xe8", 0x8))
            self.transport.close()

    def abort(self) -> None:
        """Drop the TCP connection with a RST, no close frame."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


async def ws_connect(host: str, port: int, path: str, on_text: TextHandler = _ignore) -> WSClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: WSClient(host, path, on_text), host, port)
    await client.opened
    return client


class Http:
    """HTTP/1.1 with keep-alive on one connection; JSON in, JSON out. For loopback REST calls."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None and self._writer is not None
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if self.token:
            head += f"Authorization: Bearer {self.token}\r\n"
        self._writer.write(head.encode() + b"\r\n" + payload)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                n = int((await self._reader.readline()).strip(), 16)
                if n == 0:
                    await self._reader.readline()
                    break
                parts.append(await self._reader.readexactly(n))
                await self._reader.readline()
            raw = b"".join(parts)
        else:
            raw = await self._reader.readexactly(length) if length else b""
        return status, (json.loads(raw) if raw else None)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
