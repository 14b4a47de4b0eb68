"""`WS /api/v1/tasks/{taskId}/doc`: one client's connection to a task's shared document.

The upgrade is answered only after the token and the caller's access are checked: a refusal is a
plain HTTP answer (401, 404) through the ASGI "websocket.http.response" extension, so existence
does not leak and no WebSocket is ever opened for a refused caller. After that the connection
reads frames in its own task and writes from a bounded outbound queue in another, so that a
document's fan-out never waits on one slow socket (one that falls a full buffer behind is
closed 1013, and its client syncs again when it reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import NotFound
from ..security.token_bucket import TokenBucket
from ..wire import CloseCode
from .service import Admission, Crowded, DocumentService, Oversized, Refused

logger = logging.getLogger(__name__)


class SocketPeer:
    """A client connection as a document sees it (`shared.Peer`)."""

    def __init__(self, websocket: WebSocket, admission: Admission, max_buffered: int) -> None:
        self.user_id = admission.user_id
        self.can_edit = admission.can_edit
        self.awareness_ids: set[int] = set()
        self._websocket = websocket
        self._outbound: deque[bytes] = deque()
        self._buffered = 0
        self._max_buffered = max_buffered
        self._wake = asyncio.Event()
        self.closing: tuple[int, str] | None = None

    def send(self, frame: bytes) -> None:
        if self.closing is not None:
            return
        self._outbound.append(frame)
        self._buffered += len(frame)
        if self._buffered > self._max_buffered:
            self.close(CloseCode.TRY_AGAIN_LATER, "too far behind")
            return
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            self._outbound.clear()
            self._wake.set()

    async def write(self) -> None:
        """Write what is queued, in order, until the connection is closed (by us or the client)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbound and self.closing is None:
                frame = self._outbound.popleft()
                self._buffered -= len(frame)
                await self._websocket.send_bytes(frame)
            if self.closing is not None:
                code, reason = self.closing
                await self._websocket.close(code, reason)
                return


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
    settings = documents.settings
    peer = SocketPeer(websocket, admission, documents.connection_buffer)
    try:
        document = await documents.attach(task_id, peer, admission)
    except Crowded as crowded:
        await websocket.close(CloseCode.TRY_AGAIN_LATER, str(crowded))
        return
    except Oversized as oversized:  # a code y-websocket does not reconnect after: no retry loop
        await websocket.close(CloseCode.DOCUMENT_TOO_LARGE, str(oversized)[:120])
        return
    except NotFound:  # the task went away between the check and the opening
        await websocket.close(CloseCode.TASK_DELETED, "the task was deleted")
        return
    # uvicorn reads the socket no further until a frame is taken: waiting here slows the sender.
    bucket = TokenBucket(settings.doc_rate_limit, settings.doc_rate_limit_burst)
    writer = asyncio.create_task(peer.write(), name="document-writer")
    loop = asyncio.get_running_loop()
    expiry = loop.call_later(
        max(0.0, admission.expires_at - time.time()), peer.close, CloseCode.UNAUTHORIZED, "token expired"
    )
    try:
        while not writer.done():
            receive = asyncio.ensure_future(websocket.receive())
            done, _ = await asyncio.wait({receive, writer}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
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
        await documents.detach(document, peer)
        if not writer.done() and peer.closing is not None:
            # Our close is on its way; give it the time a close frame takes, no more.
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(writer), 1.0)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
