"""The "bare" peer: the least a Python WebSocket fan-out server can do, on `asyncio.Protocol`.

The handshake is done by hand; rooms come from the path (`/ws?room=NAME`, default `main`).
A client text frame whose payload starts with `P` is a publish: the rest of the payload is
broadcast as one text frame to every other connection in the sender's room — the frame built
once, one `transport.write` per connection, one write per frame (no coalescing). Any other
frame is ignored. So the fan-out path is the one Taskroom's ephemeral events take: a publisher
connection's frame in, a frame out to every other member of the room.

Usage: python bench/peer_bare.py --port P
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import struct
from typing import cast

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_UNPACK16 = struct.Struct("!H").unpack_from
_UNPACK64 = struct.Struct("!Q").unpack_from

rooms: dict[bytes, set[BareConnection]] = {}


def server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        return head + bytes((n,)) + payload
    if n < 65536:
        return head + b"\x7e" + struct.pack("!H", n) + payload
    return head + b"\x7f" + struct.pack("!Q", n) + payload


def unmask(payload: bytes, key: bytes) -> bytes:
    if key == b"\x00\x00\x00\x00":
        return payload
    n = len(payload)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


class BareConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.room: set[BareConnection] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.room is not None:
            self.room.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if self.room is None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            self._handshake(data[:end])
            data = data[end + 4 :]
        pos = 0
        size = len(data)
        while size - pos >= 6:
            b0 = data[pos]
            n = data[pos + 1] & 0x7F
            head = 2
            if n == 126:
                n = _UNPACK16(data, pos + 2)[0]
                head = 4
            elif n == 127:
                n = _UNPACK64(data, pos + 2)[0]
                head = 10
            end = pos + head + 4 + n
            if end > size:
                break
            key = data[pos + head : pos + head + 4]
            payload = unmask(data[pos + head + 4 : end], key)
            opcode = b0 & 0x0F
            if opcode == 0x1 and payload[:1] == b"P":
                self._publish(payload[1:])
            elif opcode == 0x8:
                assert self.transport is not None
                self.transport.write(server_frame(payload[:2], 0x8))
                self.transport.close()
            elif opcode == 0x9:
                assert self.transport is not None
                self.transport.write(server_frame(payload, 0xA))
            pos = end
        if pos < size:
            self.buf = data[pos:]

    def _handshake(self, request: bytes) -> None:
        assert self.transport is not None
        key = b""
        room = b"main"
        lines = request.split(b"\r\n")
        target = lines[0].split(b" ")[1] if b" " in lines[0] else b"/"
        if b"room=" in target:
            room = target.split(b"room=", 1)[1].split(b"&", 1)[0]
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.room = rooms.setdefault(room, set())
        self.room.add(self)

    def _publish(self, payload: bytes) -> None:
        assert self.room is not None
        frame = server_frame(payload)
        for connection in self.room:
            if connection is not self and connection.transport is not None:
                connection.transport.write(frame)


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BareConnection, host, port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port))
    except ImportError:
        asyncio.run(main(args.host, args.port))
