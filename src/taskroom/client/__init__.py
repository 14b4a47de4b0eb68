"""The Python client of Taskroom: the real-time `TodoWebSocketClient` and the REST `TaskroomAPI`."""

from .backoff import Backoff
from .events import Event, NotConnectedError, ServerError
from .state import ConnectionState, StateChange
from .websocket import SyncResult, TodoWebSocketClient

__all__ = [
    "Backoff",
    "ConnectionState",
    "Event",
    "NotConnectedError",
    "ServerError",
    "StateChange",
    "SyncResult",
    "TodoWebSocketClient",
]
