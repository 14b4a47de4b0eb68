"""`WS /api/v1/tasks/{taskId}/doc`: one client's connection to a task's shared document.

The upgrade is answered only after the token and the caller's access are checked: a refusal is a
plain HTTP answer (401, 404) through the ASGI "websocket.http.response" extension, so existence
does not leak and no WebSocket is ever opened for a refused caller. After that the connection
reads frames here and writes through the same outbound side as `/api/v1/ws` (`outbound.py`):
a document's fan-out appends to each reader's buffer and never waits on one slow socket (one
that falls a full buffer behind is closed 1013, and its client syncs again when it reconnects).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..edge import audit
from ..errors import NotFound
from ..security.token_bucket import TokenBucket
from ..wire import CloseCode
from .outbound import SocketPeer, finish, socket_link
from .service import Admission, Crowded, DocumentService, Oversized, Refused

logger = logging.getLogger(__name__)


async def serve(websocket: WebSocket, documents: DocumentService, task_id: str, token: str | None) -> None:
    try:
        admission = await documents.admit(task_id, token, websocket.headers.get("origin"))
    except Refused as refused:
        body = {"error": {"code": refused.code, "message": str(refused)}}
        await websocket.send_denial_response(JSONResponse(body, status_code=refused.status))
        return
    try:
        await websocket.accept()
        await _converse(websocket, documents, task_id, admission)
    finally:
        await documents.release(admission)


async def _converse(
    websocket: WebSocket, documents: DocumentService, task_id: str, admission: Admission
) -> None:
    link = socket_link(websocket)
    peer = SocketPeer(
        link, documents.connection_buffer, documents.flusher, admission.user_id, admission.can_edit
    )
    try:
        await _attached(websocket, documents, task_id, admission, peer)
    finally:
        await finish(link)
        code, reason, by = peer.connection.close_status()
        # The path only: its query holds the token.
        audit.socket_closed(websocket.url.path, admission.identity, admission.user_id, code, reason, by)


async def _attached(
    websocket: WebSocket, documents: DocumentService, task_id: str, admission: Admission, peer: SocketPeer
) -> None:
    settings = documents.settings
    try:
        document = await documents.attach(task_id, peer, admission)
    except Crowded as crowded:
        peer.close_after_queued(CloseCode.TRY_AGAIN_LATER, str(crowded))
        return
    except Oversized as oversized:  # a code y-websocket does not reconnect after: no retry loop
        peer.close_after_queued(CloseCode.DOCUMENT_TOO_LARGE, str(oversized)[:120])
        return
    except NotFound:  # the task went away between the check and the opening
        peer.close_after_queued(CloseCode.TASK_DELETED, "the task was deleted")
        return
    documents.identified(peer, admission)
    # uvicorn reads the socket no further until a frame is taken: waiting here slows the sender.
    bucket = TokenBucket(settings.doc_rate_limit, settings.doc_rate_limit_burst)
    loop = asyncio.get_running_loop()
    expiry = loop.call_later(
        max(0.0, admission.expires_at - time.time()), peer.close, CloseCode.UNAUTHORIZED, "token expired"
    )
    try:
        while not peer.closed.done():
            receive = asyncio.ensure_future(websocket.receive())
            waiting: set[asyncio.Future[Any]] = {receive, peer.closed}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:  # closed here: the socket finishes the closing handshake itself
                receive.cancel()
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            if not bucket.try_acquire():
                await asyncio.sleep((1 - bucket.available()) / bucket.rate)  # until one token is back
                bucket.try_acquire()
            data = message.get("bytes")
            if data is None:
                peer.close(CloseCode.UNSUPPORTED_DATA, "binary y-websocket frames only")
                continue
            await documents.receive(document, peer, data)
    except WebSocketDisconnect:
        pass
    finally:
        expiry.cancel()
        documents.forget_identity(peer)
        if not peer.closing:
            peer.connection.lost()  # the client left: nothing more is written to its socket
        await documents.detach(document, peer)
