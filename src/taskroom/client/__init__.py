"""The Python client of Taskroom: the real-time `TodoWebSocketClient` and the REST `TaskroomAPI`."""

from .backoff import Backoff
from .events import Event, NotConnectedError, ServerError, UnauthorizedError
from .offline import QueueFull, WriteQueued, WriteRequest
from .queue_file import QueueFileBusy
from .rest import UNSET, ApiError, FlushResult, NotSignedIn, SessionTokenProvider, TaskroomAPI
from .state import ConnectionState, StateChange
from .tokens import TokenUnavailable
from .websocket import SyncResult, TodoWebSocketClient

__all__ = [
    "UNSET",
    "ApiError",
    "Backoff",
    "ConnectionState",
    "Event",
    "FlushResult",
    "NotConnectedError",
    "NotSignedIn",
    "QueueFileBusy",
    "QueueFull",
    "ServerError",
    "SessionTokenProvider",
    "StateChange",
    "SyncResult",
    "TaskroomAPI",
    "TodoWebSocketClient",
    "TokenUnavailable",
    "UnauthorizedError",
    "WriteQueued",
    "WriteRequest",
]
