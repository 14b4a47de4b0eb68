"""`TaskroomAPI`: a small asyncio REST client of ``/api/v1`` (PROTOCOL.md §2) on httpx.

Every write carries an ``Idempotency-Key`` (a uuid4). A write that cannot reach the server
(a connection error, a timeout, or 502/503/504 from a proxy in front of it) is queued with its
key and :class:`WriteQueued` is raised; ``flush_queue()`` replays the queue in order later, and
the server applies each write once however often it is replayed. While writes wait, new ones
queue behind them, so writes reach the server in the order they were made.

After ``login``/``register`` it keeps the session (PROTOCOL.md §5.1, session.py): the access
token is refreshed shortly before it expires and once on a 401, and ``token_provider`` hands the
same tokens to a `TodoWebSocketClient`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .offline import OfflineQueue, WriteQueue, WriteQueued, WriteRequest
from .queue_file import SqliteQueue
from .session import Session, Tokens
from .state import ConnectionState, StateChange
from .tokens import TokenSource, TokenUnavailable, fetch_token
from .urls import http_base_url

if TYPE_CHECKING:
    from .websocket import TodoWebSocketClient

#: ``on_conflict(request, current_task)``: a plain or ``async`` callable.
ConflictHandler = Callable[[WriteRequest, dict[str, Any]], Awaitable[None] | None]
#: ``on_refused(request, error)``: a queued write the server refused when it was replayed.
RefusalHandler = Callable[[WriteRequest, "ApiError"], Awaitable[None] | None]

logger = logging.getLogger("taskroom.client")

_OFFLINE_STATUSES = frozenset({502, 503, 504})


class ApiError(Exception):
    """The server refused a request: ``status``, ``code`` and ``message`` of its error body.

    ``current`` is the task as it now is, on a 409 ``CONFLICT`` of a task write.
    """

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body or {}

    @property
    def current(self) -> dict[str, Any] | None:
        current = self.body.get("current")
        return current if isinstance(current, dict) else None


class NotSignedIn(ApiError, TokenUnavailable):
    """There is no token to send: never signed in, signed out, or the session ended (the server
    refused its refresh token, ``code`` ``INVALID_REFRESH_TOKEN``). A 401 ``ApiError``; as a
    `TokenUnavailable`, it also stops a `TodoWebSocketClient` fed by ``token_provider``."""


class _Unset:
    """Marks an argument not given, where None means "set to null" (an assignee, a due date)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass
class FlushResult:
    """What ``flush_queue()`` did: writes applied (with the server's answer body, None for a
    204), writes the server refused (removed from the queue), and how many still wait."""

    applied: list[tuple[WriteRequest, Any]] = field(default_factory=list)
    refused: list[tuple[WriteRequest, ApiError]] = field(default_factory=list)
    remaining: int = 0


class TaskroomAPI:
    """REST client bound to one server. ``url`` is the server (``http://127.0.0.1:8000``) or its
    ``/api/v1`` base. ``token`` is optional (``login``/``register`` set it), a string or a
    provider as for the WebSocket client; with a provider, a 401 asks it once more and retries.
    After ``login``/``register`` the session's tokens are used instead, refreshed (POST
    /auth/refresh) when ``refresh_margin`` seconds or half their lifetime are left, and once on
    a 401; ``token_provider`` passes them on to a `TodoWebSocketClient`.

    ``on_conflict(request, current_task)``: when set, a 409 ``CONFLICT`` is handed to it instead
    of raised, and the write method returns the current task. ``on_refused(request, error)``
    hears of every queued write the server refused when it was replayed (also those of the
    flushes that writes do by themselves, whose results the caller does not see). ``queue_offline=False`` raises
    httpx's transport errors instead of queueing.

    ``queue_path``: keep the queue in that SQLite file instead of in memory (queue_file.py). A
    process that stops with writes queued, or killed while one was being sent, sends them on its
    next start (the first write or ``flush_queue()``), each applied once. One process at a time.
    """

    def __init__(
        self,
        url: str,
        token: TokenSource | None = None,
        *,
        on_conflict: ConflictHandler | None = None,
        on_refused: RefusalHandler | None = None,
        queue_offline: bool = True,
        max_queued: int = 1000,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        refresh_margin: float = 30.0,
        queue_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.base_url = http_base_url(url)
        self._token_source = token
        self._token: str | None = token if isinstance(token, str) else None
        self._session = Session(self._exchange_refresh, refresh_margin)
        self._provider = SessionTokenProvider(self)
        self.on_conflict = on_conflict
        self.on_refused = on_refused
        self._queue_offline = queue_offline
        self._queue: WriteQueue = (
            SqliteQueue(queue_path, max_queued) if queue_path is not None else OfflineQueue(max_queued)
        )
        self._flushing = asyncio.Lock()  # two flushes at once would pop each other's writes
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        """Close the connections. The session stays live on the server (``logout()`` ends it)."""
        await self._session.settle()  # a refresh under way keeps its answer (its token is spent)
        await self._http.aclose()
        if isinstance(self._queue, SqliteQueue):
            self._queue.close()

    async def __aenter__(self) -> TaskroomAPI:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def token(self) -> str | None:
        """The access token held now (of the session, or fetched from ``token``), as it is: it
        may be about to expire. A `TodoWebSocketClient` wants ``token_provider`` instead."""
        tokens = self._session.tokens
        return tokens.access_token if tokens is not None else self._token

    @property
    def refresh_token(self) -> str | None:
        """The session's refresh token: an app that keeps the sign-in across restarts stores it
        (as a secret) and hands it to ``resume()`` next time."""
        tokens = self._session.tokens
        return tokens.refresh_token if tokens is not None else None

    @property
    def token_provider(self) -> SessionTokenProvider:
        """A token provider for ``TodoWebSocketClient(token=api.token_provider)``.

        Awaiting ``api.token_provider()`` gives an access token valid now: the session's,
        refreshed first when it is due (or when the WebSocket client reported it refused), or
        else a fresh one from ``token``. Raises `NotSignedIn` when there is none, which stops
        the WebSocket client as ``unauthorized``.
        """
        return self._provider

    # --- accounts -----------------------------------------------------------------------------

    async def register(self, email: str, password: str, name: str) -> dict[str, Any]:
        """Create an account and keep its session. Returns ``{user, accessToken, …}``."""
        return await self._sign_in("/auth/register", {"email": email, "password": password, "name": name})

    async def login(self, email: str, password: str) -> dict[str, Any]:
        """Log in and keep the session. Returns ``{user, accessToken, expiresIn, refreshToken, …}``."""
        return await self._sign_in("/auth/login", {"email": email, "password": password})

    async def _sign_in(self, path: str, credentials: dict[str, Any]) -> dict[str, Any]:
        sent_at = self._session.now()
        body = await self._send("POST", path, credentials)
        self._session.start(body, sent_at)
        return dict(body)

    async def resume(self, refresh_token: str) -> dict[str, Any]:
        """Sign in again with a refresh token kept from an earlier run (``api.refresh_token``):
        it is spent, and the session goes on with new tokens (keep the new ``refresh_token``).
        Raises `NotSignedIn` when the server refuses it. Returns the refresh answer."""
        sent_at = self._session.now()
        body = await self._exchange_refresh(refresh_token)
        self._session.start(body, sent_at)
        return body

    async def logout(self) -> None:
        """End the session on the server (POST /auth/logout) and forget its tokens.

        The refresh token is presented, so this works after the access token expired. A 401
        means it had ended already: signed out all the same. Other failures (the server out of
        reach) raise and keep the tokens, so ``logout()`` can be tried again. A WebSocket
        client of the session is closed by the server (4401) and then stops as
        ``unauthorized``. Without a session, the bearer token is signed out and forgotten.
        """
        if self._session.tokens is not None:
            await self._session.end_with(self._farewell)
            return
        if self._token is not None:
            await self._farewell(Tokens(self._token, None, None, None))
        self._token = None
        self._token_source = None

    async def _farewell(self, tokens: Tokens) -> None:
        if tokens.refresh_token is not None:
            response = await self._http.post("/auth/logout", json={"refreshToken": tokens.refresh_token})
        else:
            headers = {"Authorization": f"Bearer {tokens.access_token}"}
            response = await self._http.post("/auth/logout", headers=headers)
        if response.status_code != 401:
            _body_or_raise(response)

    async def me(self) -> dict[str, Any]:
        return dict(await self._read("/auth/me"))

    # --- workspaces and members ---------------------------------------------------------------

    async def list_workspaces(self) -> list[dict[str, Any]]:
        return list((await self._read("/workspaces"))["items"])

    async def get_workspace(self, workspace_id: str) -> dict[str, Any]:
        return dict(await self._read(f"/workspaces/{workspace_id}"))

    async def create_workspace(self, name: str, description: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        return dict(await self._write(WriteRequest("POST", "/workspaces", body)))

    async def update_workspace(
        self,
        workspace_id: str,
        *,
        name: str | _Unset = UNSET,
        description: str | _Unset | None = UNSET,
        columns: list[dict[str, Any]] | _Unset = UNSET,
    ) -> dict[str, Any]:
        """``columns``: the whole list ``[{key, name, done}]`` in board order (admin and up)."""
        body = _given(name=name, description=description, columns=columns)
        return dict(await self._write(WriteRequest("PATCH", f"/workspaces/{workspace_id}", body)))

    async def delete_workspace(self, workspace_id: str) -> None:
        await self._write(WriteRequest("DELETE", f"/workspaces/{workspace_id}"))

    async def list_members(self, workspace_id: str) -> list[dict[str, Any]]:
        return list((await self._read(f"/workspaces/{workspace_id}/members"))["items"])

    async def add_member(self, workspace_id: str, email: str, role: str = "member") -> dict[str, Any]:
        body = {"email": email, "role": role}
        return dict(await self._write(WriteRequest("POST", f"/workspaces/{workspace_id}/members", body)))

    async def update_member(self, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
        path = f"/workspaces/{workspace_id}/members/{user_id}"
        return dict(await self._write(WriteRequest("PATCH", path, {"role": role})))

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        await self._write(WriteRequest("DELETE", f"/workspaces/{workspace_id}/members/{user_id}"))

    # --- tasks --------------------------------------------------------------------------------

    async def list_tasks(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        completed: bool | None = None,
        assignee_id: str | None = None,
        priority: str | None = None,
        label: str | None = None,
        due_before: str | datetime | None = None,
        due_after: str | datetime | None = None,
        q: str | None = None,
        page_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every task that matches, read a page at a time (see ``iter_tasks``)."""
        pages = self.iter_tasks(
            workspace_id,
            status=status,
            completed=completed,
            assignee_id=assignee_id,
            priority=priority,
            label=label,
            due_before=due_before,
            due_after=due_after,
            q=q,
            page_size=page_size,
        )
        return [task async for task in pages]

    async def iter_tasks(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        completed: bool | None = None,
        assignee_id: str | None = None,
        priority: str | None = None,
        label: str | None = None,
        due_before: str | datetime | None = None,
        due_after: str | datetime | None = None,
        q: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The matching tasks, one page (``page_size``, 1 to 500; the server's 200 by default)
        requested when the one before is used up. In board order; with ``q`` (words of the title
        or description), best match first. ``label``: tasks having that label; ``due_before``
        (strictly) and ``due_after`` (at or after): ISO date-times or datetimes (naive is UTC)."""
        cursor: str | None = None
        while True:
            page = await self.list_tasks_page(
                workspace_id,
                status=status,
                completed=completed,
                assignee_id=assignee_id,
                priority=priority,
                label=label,
                due_before=due_before,
                due_after=due_after,
                q=q,
                limit=page_size,
                cursor=cursor,
            )
            for task in page["items"]:
                yield task
            cursor = page["nextCursor"]
            if cursor is None:
                return

    async def list_tasks_page(
        self,
        workspace_id: str,
        *,
        status: str | None = None,
        completed: bool | None = None,
        assignee_id: str | None = None,
        priority: str | None = None,
        label: str | None = None,
        due_before: str | datetime | None = None,
        due_after: str | datetime | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page: ``{items, nextCursor}``; pass ``nextCursor`` back as ``cursor`` for the next
        (``None``: that was the last), with the same filters."""
        given: dict[str, str | None] = {
            "status": status,
            "completed": None if completed is None else ("true" if completed else "false"),
            "assigneeId": assignee_id,
            "priority": priority,
            "label": label,
            "dueBefore": _iso(due_before),
            "dueAfter": _iso(due_after),
            "q": q,
            "limit": None if limit is None else str(limit),
            "cursor": cursor,
        }
        params = {name: value for name, value in given.items() if value is not None}
        return dict(await self._read(f"/workspaces/{workspace_id}/tasks", params))

    async def get_task(self, task_id: str) -> dict[str, Any]:
        return dict(await self._read(f"/tasks/{task_id}"))

    async def create_task(
        self,
        workspace_id: str,
        title: str,
        *,
        description: str | _Unset = UNSET,
        status: str | _Unset = UNSET,
        assignee_id: str | _Unset | None = UNSET,
        due_date: str | _Unset | None = UNSET,
        priority: str | _Unset = UNSET,
        labels: Sequence[str] | _Unset = UNSET,
    ) -> dict[str, Any]:
        """Create a task; ``labels``: up to 20 of 1 to 40 characters (trimmed, duplicates dropped)."""
        body = {
            "title": title,
            **_given(
                description=description,
                status=status,
                assigneeId=assignee_id,
                dueDate=due_date,
                priority=priority,
                labels=_list_of(labels),
            ),
        }
        return dict(await self._write(WriteRequest("POST", f"/workspaces/{workspace_id}/tasks", body)))

    async def update_task(
        self,
        task_id: str,
        *,
        title: str | _Unset = UNSET,
        description: str | _Unset = UNSET,
        assignee_id: str | _Unset | None = UNSET,
        due_date: str | _Unset | None = UNSET,
        priority: str | _Unset = UNSET,
        labels: Sequence[str] | _Unset = UNSET,
        base_version: int | _Unset = UNSET,
    ) -> dict[str, Any]:
        """PATCH a task. With `base_version`, a field someone else changed since is a 409.
        ``labels`` replaces the whole list (``[]`` clears it)."""
        body = _given(
            title=title,
            description=description,
            assigneeId=assignee_id,
            dueDate=due_date,
            priority=priority,
            labels=_list_of(labels),
            baseVersion=base_version,
        )
        return dict(await self._write(WriteRequest("PATCH", f"/tasks/{task_id}", body)))

    async def complete_task(self, task_id: str, completed: bool = True) -> dict[str, Any]:
        return dict(
            await self._write(WriteRequest("POST", f"/tasks/{task_id}/complete", {"completed": completed}))
        )

    async def move_task(
        self,
        task_id: str,
        status: str,
        *,
        before_id: str | _Unset = UNSET,
        after_id: str | _Unset = UNSET,
        base_version: int | _Unset = UNSET,
    ) -> dict[str, Any]:
        """Move to column `status`, right below `before_id` and/or right above `after_id`."""
        body = {"status": status, **_given(beforeId=before_id, afterId=after_id, baseVersion=base_version)}
        return dict(await self._write(WriteRequest("POST", f"/tasks/{task_id}/move", body)))

    async def delete_task(self, task_id: str) -> None:
        """Move the task to the trash (``restore_task`` brings it back)."""
        await self._write(WriteRequest("DELETE", f"/tasks/{task_id}"))

    async def restore_task(self, task_id: str) -> dict[str, Any]:
        """Bring a task back from the trash, where it was; 404 when it is not in the trash."""
        return dict(await self._write(WriteRequest("POST", f"/tasks/{task_id}/restore")))

    async def trash_page(
        self, workspace_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the trash, latest deleted first: ``{items, nextCursor}``."""
        params = {"limit": str(limit)} if limit is not None else {}
        if cursor is not None:
            params["cursor"] = cursor
        return dict(await self._read(f"/workspaces/{workspace_id}/trash", params))

    async def list_trash(self, workspace_id: str, *, page_size: int | None = None) -> list[dict[str, Any]]:
        """Every task in the trash, latest deleted first, read a page at a time."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self.trash_page(workspace_id, limit=page_size, cursor=cursor)
            items.extend(page["items"])
            cursor = page["nextCursor"]
            if cursor is None:
                return items

    async def task_activity(
        self, task_id: str, *, before: int | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """A page of the task's activity, newest first: ``{items, hasMore}``; the next page is
        ``before`` the last item's ``seq``."""
        params: dict[str, str] = {}
        if before is not None:
            params["before"] = str(before)
        if limit is not None:
            params["limit"] = str(limit)
        return dict(await self._read(f"/tasks/{task_id}/activity", params))

    async def add_comment(self, task_id: str, body: str) -> dict[str, Any]:
        """Comment on a task; ``@{userId}`` in the body mentions that member."""
        return dict(await self._write(WriteRequest("POST", f"/tasks/{task_id}/comments", {"body": body})))

    async def comments_page(
        self, task_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of a task's comments, oldest first: ``{items, nextCursor}``."""
        params = {"limit": str(limit)} if limit is not None else {}
        if cursor is not None:
            params["cursor"] = cursor
        return dict(await self._read(f"/tasks/{task_id}/comments", params))

    async def update_comment(self, comment_id: str, body: str) -> dict[str, Any]:
        return dict(await self._write(WriteRequest("PATCH", f"/comments/{comment_id}", {"body": body})))

    async def delete_comment(self, comment_id: str) -> None:
        await self._write(WriteRequest("DELETE", f"/comments/{comment_id}"))

    async def notifications(self, *, unread: bool = False, limit: int | None = None) -> dict[str, Any]:
        """The caller's notifications, newest first: ``{items, unreadCount}``."""
        params = {"unread": "true"} if unread else {}
        if limit is not None:
            params["limit"] = str(limit)
        return dict(await self._read("/notifications", params))

    async def mark_notifications_read(self, ids: list[str] | None = None) -> None:
        """Mark these of the caller's notifications read; every one when ``ids`` is None."""
        body: dict[str, Any] = {"all": True} if ids is None else {"ids": ids}
        await self._write(WriteRequest("POST", "/notifications/read", body))

    async def events(self, workspace_id: str, since: int = 0, limit: int | None = None) -> dict[str, Any]:
        """One page of the workspace's log: ``{events, latestSeq, hasMore}`` (410 GONE: reload)."""
        params = {"since": str(since)}
        if limit is not None:
            params["limit"] = str(limit)
        return dict(await self._read(f"/workspaces/{workspace_id}/events", params))

    async def snapshot(self, workspace_id: str) -> dict[str, Any]:
        """The workspace at one moment (PROTOCOL §6): ``{workspace, members, tasks, latestSeq}``,
        every page read. Apply the events after ``latestSeq`` to reach the current state."""
        path = f"/workspaces/{workspace_id}/snapshot"
        first = dict(await self._read(path, {}))
        page = first
        while page["nextCursor"] is not None:
            page = dict(await self._read(path, {"cursor": page["nextCursor"]}))
            first["tasks"].extend(page["tasks"])
        del first["nextCursor"]
        return first

    # --- the offline queue --------------------------------------------------------------------

    @property
    def pending(self) -> list[WriteRequest]:
        """The writes waiting for the server, oldest first."""
        return list(self._queue)

    def enqueue(self, request: WriteRequest) -> None:
        """Queue a write (one stored by the app across a restart, say) for the next flush."""
        self._queue.append(request)

    async def flush_queue(self) -> FlushResult:
        """Send the queued writes, oldest first, each with its original key.

        Stops at the first that still cannot reach the server (it stays first in the queue). A
        write the server refuses leaves the queue and is listed in ``refused``, except a 409
        ``CONFLICT`` when ``on_conflict`` is set: that goes to the callback.
        """
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> FlushResult:
        result = FlushResult()
        while (request := self._queue.first()) is not None:
            try:
                answer = await self._exchange(request)
            except (httpx.TransportError, _Unavailable):
                break
            except NotSignedIn:
                raise  # not the write's fault: it stays queued for after the next sign-in
            except ApiError as error:
                self._queue.pop_first()
                if not await self._hand_conflict(request, error):
                    result.refused.append((request, error))
                    logger.warning("queued %s %s refused: %s", request.method, request.path, error)
                    if self.on_refused is not None:
                        outcome = self.on_refused(request, error)
                        if inspect.isawaitable(outcome):
                            await outcome
                continue
            self._queue.pop_first()
            result.applied.append((request, answer))
        result.remaining = len(self._queue)
        return result

    def replay_on_reconnect(self, client: TodoWebSocketClient) -> None:
        """Flush the queue whenever `client`'s connection opens (the server is reachable again)."""

        async def flush_when_open(change: StateChange) -> None:
            if change.state is ConnectionState.OPEN and len(self._queue):
                await self.flush_queue()

        client.on_state_change(flush_when_open)

    # --- plumbing -----------------------------------------------------------------------------

    async def _write(self, request: WriteRequest) -> Any:
        if len(self._queue):
            await self.flush_queue()
        if len(self._queue):
            self._queue.append(request)
            raise WriteQueued(request)
        # A queue file keeps the write while it is sent: a process killed before the answer sends
        # it again on its next start, under the same key.
        self._queue.hold(request)
        try:
            answer = await self._exchange(request)
        except (httpx.TransportError, _Unavailable) as exc:
            if not self._queue_offline:
                self._queue.release(request)
                raise
            self._queue.requeue(request)
            raise WriteQueued(request, exc) from exc
        except ApiError as error:
            self._queue.release(request)
            if await self._hand_conflict(request, error):
                return error.current
            raise
        except BaseException:
            self._queue.release(request)
            raise
        self._queue.release(request)
        return answer

    async def _hand_conflict(self, request: WriteRequest, error: ApiError) -> bool:
        if self.on_conflict is None or error.code != "CONFLICT" or error.current is None:
            return False
        outcome = self.on_conflict(request, error.current)
        if inspect.isawaitable(outcome):
            await outcome
        return True

    async def _exchange(self, request: WriteRequest) -> Any:
        headers = {"Idempotency-Key": request.idempotency_key}
        response = await self._authorized(request.method, request.path, json=request.body, headers=headers)
        if response.status_code in _OFFLINE_STATUSES:
            raise _Unavailable(response.status_code)
        return _body_or_raise(response)

    async def _read(self, path: str, params: dict[str, str] | None = None) -> Any:
        return _body_or_raise(await self._authorized("GET", path, params=params))

    async def _send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """An unauthenticated request (login, register): never queued."""
        return _body_or_raise(await self._http.request(method, path, json=body))

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        token = await self._current_token(from_source=False)
        response = await self._http.request(
            method, path, headers={**headers, "Authorization": f"Bearer {token}"}, **kwargs
        )
        if response.status_code == 401:
            retry = await self._token_after_refusal(token)
            if retry is not None:
                response = await self._http.request(
                    method, path, headers={**headers, "Authorization": f"Bearer {retry}"}, **kwargs
                )
        return response

    async def _current_token(self, *, from_source: bool) -> str:
        """The access token to send: the session's (refreshed when due), else the one from
        ``token`` (asked of a provider again when `from_source`, else only the first time)."""
        if self._session.tokens is not None:
            token = await self._session.access_token()
            if token is not None:
                return token
        source = self._token_source
        if source is not None and (self._token is None or (from_source and not isinstance(source, str))):
            self._token = await fetch_token(source)
        if self._token is None:
            raise NotSignedIn(401, "UNAUTHORIZED", "not signed in: log in, register, or give token=")
        return self._token

    async def _token_after_refusal(self, refused: str) -> str | None:
        """Another token to retry a request answered 401 with once; None: there is none."""
        if self._session.tokens is not None:
            fresh = await self._session.renew(refused)
        elif self._token_source is not None and not isinstance(self._token_source, str):
            fresh = self._token = await fetch_token(self._token_source)
        else:
            return None
        return fresh if fresh != refused else None

    async def _exchange_refresh(self, refresh_token: str) -> dict[str, Any]:
        """POST /auth/refresh; the session's renewal (session.py), never called directly."""
        response = await self._http.post("/auth/refresh", json={"refreshToken": refresh_token})
        if response.status_code in _OFFLINE_STATUSES:
            raise _Unavailable(response.status_code)
        if response.status_code == 401:
            try:
                _body_or_raise(response)
            except ApiError as error:
                raise NotSignedIn(error.status, error.code, error.message, error.body) from None
        return dict(_body_or_raise(response))


class SessionTokenProvider:
    """``TaskroomAPI.token_provider``: an ``async`` callable giving an access token, with the
    ``token_refused`` hook by which `TodoWebSocketClient` reports a token the server refused
    (the session is then refreshed on the next call instead of handing that token back)."""

    def __init__(self, api: TaskroomAPI) -> None:
        self._api = api

    async def __call__(self) -> str:
        return await self._api._current_token(from_source=True)

    def token_refused(self, token: str) -> None:
        self._api._session.mark_refused(token)

    def __repr__(self) -> str:
        return f"<token provider of {self._api.base_url}>"


class _Unavailable(ApiError):
    """A proxy answered 502/503/504: the server is not reachable right now. Writes catch it
    first (and queue); a read that meets it while refreshing sees an `ApiError`."""

    def __init__(self, status: int) -> None:
        super().__init__(status, "UNAVAILABLE", "the server is not reachable right now")


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not UNSET}


def _list_of(values: Sequence[str] | _Unset) -> list[str] | _Unset:
    # A JSON array whatever sequence was given (a tuple would serialize too, a str must not pass).
    if isinstance(values, _Unset):
        return values
    if isinstance(values, str):
        raise TypeError("labels is a sequence of strings, not one string")
    return list(values)


def _iso(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _body_or_raise(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise ApiError(response.status_code, "HTTP_ERROR", response.text[:200])
    raise ApiError(response.status_code, str(error.get("code")), str(error.get("message")), error)
