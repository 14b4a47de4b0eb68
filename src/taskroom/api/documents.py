"""`WS /api/v1/tasks/{taskId}/doc`: shared task descriptions over the y-websocket protocol.

The access token comes in the `token` query parameter (a stock y-websocket provider's `params`
option), on this path only: browsers cannot set headers on a WebSocket. It is never logged
(`logging_redaction.py` strips it from the server's request lines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, WebSocket

from ..documents.endpoint import serve

if TYPE_CHECKING:
    from ..documents.service import DocumentService

router = APIRouter(tags=["documents"])


def documents_of(request: Request | WebSocket) -> DocumentService | None:
    """This node's documents (None when the app runs without its real-time layer)."""
    node = getattr(request.app.state, "node", None)
    return getattr(node, "documents", None)


@router.websocket("/tasks/{task_id}/doc")
async def task_document(websocket: WebSocket, task_id: str) -> None:
    documents = documents_of(websocket)
    assert documents is not None, "the node's lifespan builds the documents"
    await serve(websocket, documents, task_id, websocket.query_params.get("token"))
