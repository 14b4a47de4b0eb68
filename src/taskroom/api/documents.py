"""`WS /api/v1/tasks/{taskId}/doc`: shared task descriptions over the y-websocket protocol.

The access token comes in the `token` query parameter (a stock y-websocket provider's `params`
option), on this path only: browsers cannot set headers on a WebSocket. It is never logged
(`logging_redaction.py` strips it from the server's request lines).

Only a parameter spelt exactly `token` counts. Starlette's `query_params` decodes names, so
`%74oken=` would read as `token` there while a log filter or a proxy that matches the name as
written misses it: reading the raw query keeps "what is accepted" and "what is redacted" the
same set of spellings, with the filter's (any decoding, any case) the wider one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request, WebSocket

from ..documents.endpoint import serve

if TYPE_CHECKING:
    from ..documents.service import DocumentService

router = APIRouter(tags=["documents"])

TOKEN_PARAMETER = b"token"


def query_token(query_string: bytes) -> str | None:
    """The value of the one parameter named literally `token` in a raw query; None when there is
    none, or more than one (which of two would count is exactly the ambiguity to avoid)."""
    values = [
        value
        for name, _, value in (pair.partition(b"=") for pair in query_string.split(b"&"))
        if name == TOKEN_PARAMETER
    ]
    if len(values) != 1:
        return None
    # Decoded as Starlette decodes a value (a JWT's characters need no escaping anyway).
    return unquote_plus(values[0].decode("latin-1"))


def documents_of(request: Request | WebSocket) -> DocumentService | None:
    """This node's documents (None when the app runs without its real-time layer)."""
    node = getattr(request.app.state, "node", None)
    return getattr(node, "documents", None)


@router.websocket("/tasks/{task_id}/doc")
async def task_document(websocket: WebSocket, task_id: str) -> None:
    documents = documents_of(websocket)
    assert documents is not None, "the node's lifespan builds the documents"
    await serve(websocket, documents, task_id, query_token(websocket.scope.get("query_string", b"")))
