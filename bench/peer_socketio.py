"""The python-socketio peer: a Socket.IO server (ASGI) on uvicorn, clients in one room.

Client events: `join` (with an ack) puts the sender in the room named by its argument;
`pub` emits its argument as `ev` to the sender's room, skipping the sender — a room emit,
the library's own fan-out. uvicorn runs with the same WebSocket implementation as Taskroom.

Usage: python bench/peer_socketio.py --port P
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", ping_interval=25, ping_timeout=60)
app = socketio.ASGIApp(sio)
room_of: dict[str, str] = {}


@sio.on("join")  # type: ignore[untyped-decorator]
async def join(sid: str, room: str) -> bool:
    await sio.enter_room(sid, room)
    room_of[sid] = room
    return True


@sio.on("pub")  # type: ignore[untyped-decorator]
async def pub(sid: str, data: Any) -> None:
    await sio.emit("ev", data, room=room_of.get(sid, "main"), skip_sid=sid)


@sio.on("disconnect")  # type: ignore[untyped-decorator]
async def disconnect(sid: str, *args: Any) -> None:
    room_of.pop(sid, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="warning",
    )
