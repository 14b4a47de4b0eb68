"""The Python client of Taskroom: the real-time `TodoWebSocketClient` and the REST `TaskroomAPI`."""

from .backoff import Backoff
from .events import Event, NotConnectedError, ServerError
from .offline import QueueFull, WriteQueued, WriteRequest
from .rest import UNSET, ApiError, FlushResult, TaskroomAPI
from .state import ConnectionState, StateChange
from .websocket import SyncResult, TodoWebSocketClient

__all__ = [
    "UNSET",
    "ApiError",
    "Backoff",
    "ConnectionState",
    "Event",
    "FlushResult",
    "NotConnectedError",
    "QueueFull",
    "ServerError",
    "StateChange",
    "SyncResult",
    "TaskroomAPI",
    "TodoWebSocketClient",
    "WriteQueued",
    "WriteRequest",
]
