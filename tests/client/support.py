"""Helpers of the client tests: waiting inside a test's event loop, and the log as the server has it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from taskroom.client import Backoff, Event, TaskroomAPI

PASSWORD = "correct horse battery"


def quick_backoff() -> Backoff:
    """Short delays, so a test does not wait long for a node that comes back."""
    return Backoff(base=0.1, cap=1.0, floor=0.05, healthy_after=2.0)


async def until(condition: Callable[[], bool], what: str = "condition", within: float = 15.0) -> None:
    """Wait (without blocking the loop) until `condition()` holds; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} never held")
        await asyncio.sleep(0.02)


async def new_account(api: TaskroomAPI, name: str = "Ada") -> dict[str, Any]:
    email = f"{name.lower()}.{uuid.uuid4().hex[:10]}@example.test"
    body = await api.register(email, PASSWORD, name)
    return {**body["user"], "password": PASSWORD}


async def whole_log(api: TaskroomAPI, workspace_id: str) -> list[dict[str, Any]]:
    """Every event of the workspace, from GET /workspaces/{id}/events, page by page."""
    events: list[dict[str, Any]] = []
    since = 0
    while True:
        page = await api.events(workspace_id, since=since)
        events.extend(page["events"])
        if not page["hasMore"]:
            return events
        since = events[-1]["seq"]


def logged(events: list[Event]) -> list[tuple[int | None, str | None, str]]:
    return [(e.seq, e.event_id, e.type) for e in events]


def as_logged(envelopes: list[dict[str, Any]]) -> list[tuple[int | None, str | None, str]]:
    return [(e["seq"], e["eventId"], e["type"]) for e in envelopes]


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, counting the requests it sends by (method, path under /api/v1)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def count(self, method: str, path: str) -> int:
        return self.sent.count((method, path))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path.removeprefix("/api/v1")))
        return await super().handle_async_request(request)
