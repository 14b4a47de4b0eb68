"""Writes waiting for the server: what is queued while offline and replayed later.

Each write keeps the ``Idempotency-Key`` it was first sent with, so a replay has one effect even
when the first try did reach the server and only its answer was lost.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class WriteRequest:
    """One REST write as sent: method, path under ``/api/v1``, JSON body, and its key.

    Plain data (``as_dict``/``from_dict``), so an app can store its queue across restarts.
    """

    method: str
    path: str
    body: dict[str, Any] | None = None
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "idempotencyKey": self.idempotency_key,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> WriteRequest:
        return cls(str(value["method"]), str(value["path"]), value.get("body"), str(value["idempotencyKey"]))


class WriteQueued(Exception):
    """The server could not be reached: the write waits in the queue for ``flush_queue()``."""

    def __init__(self, request: WriteRequest, cause: BaseException | None = None) -> None:
        super().__init__(f"{request.method} {request.path} queued until the server is reachable")
        self.request = request
        self.cause = cause


class QueueFull(Exception):
    """The offline queue holds its maximum: the write was neither sent nor queued."""


class OfflineQueue:
    """First in, first out, bounded (an app offline for long should tell its user, not grow)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the queue limit must be at least 1")
        self.limit = limit
        self._items: deque[WriteRequest] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[WriteRequest]:
        return iter(list(self._items))

    def append(self, request: WriteRequest) -> None:
        if len(self._items) >= self.limit:
            raise QueueFull(f"{self.limit} writes are already waiting")
        self._items.append(request)

    def first(self) -> WriteRequest | None:
        return self._items[0] if self._items else None

    def pop_first(self) -> WriteRequest:
        return self._items.popleft()

    # A write being sent is only kept by a queue that outlives the process (`queue_file.py`):
    # in memory, a process that dies takes its queue with it anyway.
    def hold(self, request: WriteRequest) -> None:
        pass

    def release(self, request: WriteRequest) -> None:
        pass

    def requeue(self, request: WriteRequest) -> None:
        self.append(request)


class WriteQueue(Protocol):
    """What `TaskroomAPI` needs of its queue: in memory (`OfflineQueue`) or in a file (`SqliteQueue`)."""

    limit: int

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[WriteRequest]: ...
    def append(self, request: WriteRequest) -> None: ...
    def first(self) -> WriteRequest | None: ...
    def pop_first(self) -> WriteRequest: ...
    def hold(self, request: WriteRequest) -> None: ...
    def release(self, request: WriteRequest) -> None: ...
    def requeue(self, request: WriteRequest) -> None: ...
