"""`WS /api/v1/ws`: the thin part that checks the Origin and hands the socket to a session."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from .session import ClientSession

router = APIRouter()


@router.websocket("/api/v1/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    hub = services.realtime
    allowed = services.settings.allowed_origins
    origin = websocket.headers.get("origin")
    if allowed is not None and (origin is None or origin.rstrip("/") not in allowed):
        await websocket.close()  # before accept: the server answers HTTP 403
        return
    session = ClientSession(websocket, hub, services.tokens, services.feeds, services.settings)
    await session.run()
