"""`TodoWebSocketClient`: the asyncio client of the real-time protocol (PROTOCOL.md §3 and §4).

What it guarantees: every logged event (§3.2) of the workspaces it follows reaches the handlers
exactly once and in ``seq`` order per workspace, across lost connections, server restarts and
node changes, as long as the events are still retained by the server (past the retention the
server sends a ``reset`` snapshot, delivered to ``on_sync_response``). Collaboration frames
(§3.3) are ephemeral: those sent while the connection is down are lost, as the protocol says.

websockets' own reconnecting ``connect`` iterator is not used: it has no floor, no reset rule
tied to a healthy connection, and no hook to re-authenticate with ``resume`` on each socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .backoff import Backoff
from .dispatch import ANY_FRAME, STATE_KEY, Dispatcher, Handler, Handlers
from .events import Event, NotConnectedError, ServerError, UnauthorizedError
from .positions import LogPositions, Verdict
from .refusals import Refusals
from .state import ConnectionState, StateChange
from .tokens import TokenSource, TokenUnavailable, fetch_token, refresh_delay, report_refused
from .urls import websocket_url

logger = logging.getLogger("taskroom.client")

H = TypeVar("H", bound=Callable[..., Awaitable[None] | None])

PRESENCE_STATUSES = frozenset({"online", "away", "busy"})

# The close code of a bad, expired or ended token (§3.5); the client imports nothing of the server.
UNAUTHORIZED_CLOSE = 4401
# The ERROR codes of a refused re-authentication, after which the server closes 4401.
_REFUSAL_CODES = frozenset({"UNAUTHORIZED", "TOKEN_EXPIRED"})


class _Resync(Exception):
    """A logged event arrived past a gap: drop the connection and resume from the last seq."""


class _UnexpectedGreeting(Exception):
    """The server's first frame was not CONNECT: not a Taskroom endpoint, or a broken one."""


@dataclass(frozen=True)
class SyncResult:
    """What ``sync()`` brought: every event of the pages read (in order), the workspace's latest
    seq, and, when the client was too far behind, the ``reset`` snapshot instead of events."""

    workspace_id: str
    events: list[Event]
    latest_seq: int
    snapshot: dict[str, Any] | None = None


class TodoWebSocketClient:
    """A connection to ``WS /api/v1/ws`` that stays connected and resumes by itself.

    ``url``: a server address (``ws://host:8000``, ``https://tasks.example.com``) to which the
    endpoint path ``/api/v1/ws`` is added, or a full endpoint address with a path, used as is.
    ``token``: an access token, or a provider (a plain or ``async`` callable returning one) that
    is called on every connection attempt and a little before the token in force expires (then
    sent with ``AUTHENTICATE`` on the open socket). A token refused with 4401 is not tried again:
    the client asks the provider for another, and stops with the state ``unauthorized`` when it
    hands back one already refused, raises ``TokenUnavailable``, or when three connects in a row
    were refused (PROTOCOL.md §4). A fixed string cannot be replaced, so it stops at its first
    refusal (or when it expires). ``TaskroomAPI.token_provider`` is a provider that refreshes.
    ``workspace_ids``: join only these workspaces (default: all the user's); workspaces joined
    later (created, or added to) are kept across reconnects too.
    ``resume``: ``{workspaceId: seq}`` to start after (an app that stored its position), so the
    first connection receives what was missed since.
    """

    def __init__(
        self,
        url: str,
        token: TokenSource,
        workspace_ids: Iterable[str] | None = None,
        *,
        resume: Mapping[str, int] | None = None,
        backoff: Backoff | None = None,
        token_refresh_margin: float = 30.0,
        open_timeout: float = 10.0,
        request_timeout: float = 30.0,
        max_frame_bytes: int = 64 * 1024 * 1024,
        max_pending_events: int = 10_000,
    ) -> None:
        self.url = websocket_url(url)
        if not isinstance(token, str) and not callable(token):
            raise TypeError("token must be a string or a callable returning one")
        self._token_source = token
        self._workspace_ids = list(dict.fromkeys(workspace_ids)) if workspace_ids is not None else None
        self._positions = LogPositions(resume)
        self._backoff = backoff or Backoff()
        self._refresh_margin = token_refresh_margin
        self._open_timeout = open_timeout
        self._request_timeout = request_timeout
        self._max_frame_bytes = max_frame_bytes
        self._handlers = Handlers()
        self._dispatcher: Dispatcher | None = None
        self._max_pending_events = max_pending_events
        self._state = ConnectionState.CLOSED
        self._refusals = Refusals()
        self._token_in_force: str | None = None  # what the open connection is authenticated with
        self._unauthorized: UnauthorizedError | None = None  # why the loop stopped, if it did so
        self._runner: asyncio.Task[None] | None = None
        self._socket: ClientConnection | None = None
        self._opened = asyncio.Event()
        self._stopping = False
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Event]] = {}
        self._presence: dict[str, str] = {}
        self._joined: set[str] = set()
        self.user_id: str | None = None
        #: The workspaces asked for that the last ``AUTHENTICATE`` answer refused (not a member,
        #: or no such workspace: the server does not say which).
        self.denied: frozenset[str] = frozenset()

    # --- registration -------------------------------------------------------------------------

    def on(self, message_type: str, handler: H) -> H:
        """Call `handler(event)` for every frame of `message_type`; returns `handler` (decorator use)."""
        self._handlers.add(message_type, handler)
        return handler

    def on_any(self, handler: H) -> H:
        """Call `handler(event)` for every frame delivered, whatever its type (after its own handlers)."""
        return self.on(ANY_FRAME, handler)

    def remove_handler(self, message_type: str, handler: Handler) -> None:
        self._handlers.remove(message_type, handler)

    def on_task_created(self, handler: H) -> H:
        return self.on("TASK_CREATED", handler)

    def on_task_updated(self, handler: H) -> H:
        return self.on("TASK_UPDATED", handler)

    def on_task_deleted(self, handler: H) -> H:
        return self.on("TASK_DELETED", handler)

    def on_task_completed(self, handler: H) -> H:
        return self.on("TASK_COMPLETED", handler)

    def on_task_moved(self, handler: H) -> H:
        return self.on("TASK_MOVED", handler)

    def on_task_restored(self, handler: H) -> H:
        return self.on("TASK_RESTORED", handler)

    def on_comment_added(self, handler: H) -> H:
        return self.on("COMMENT_ADDED", handler)

    def on_comment_updated(self, handler: H) -> H:
        return self.on("COMMENT_UPDATED", handler)

    def on_comment_deleted(self, handler: H) -> H:
        return self.on("COMMENT_DELETED", handler)

    def on_notification(self, handler: H) -> H:
        """A notification of the user's own (§7), sent to their connections only: no `seq`."""
        return self.on("NOTIFICATION", handler)

    def on_workspace_created(self, handler: H) -> H:
        return self.on("WORKSPACE_CREATED", handler)

    def on_workspace_updated(self, handler: H) -> H:
        return self.on("WORKSPACE_UPDATED", handler)

    def on_workspace_deleted(self, handler: H) -> H:
        return self.on("WORKSPACE_DELETED", handler)

    def on_workspace_member_added(self, handler: H) -> H:
        return self.on("WORKSPACE_MEMBER_ADDED", handler)

    def on_workspace_member_updated(self, handler: H) -> H:
        return self.on("WORKSPACE_MEMBER_UPDATED", handler)

    def on_workspace_member_removed(self, handler: H) -> H:
        return self.on("WORKSPACE_MEMBER_REMOVED", handler)

    def on_user_presence(self, handler: H) -> H:
        return self.on("USER_PRESENCE", handler)

    def on_user_typing(self, handler: H) -> H:
        return self.on("USER_TYPING", handler)

    def on_cursor_position(self, handler: H) -> H:
        return self.on("CURSOR_POSITION", handler)

    def on_presence_state(self, handler: H) -> H:
        return self.on("PRESENCE_STATE", handler)

    def on_sync_response(self, handler: H) -> H:
        return self.on("SYNC_RESPONSE", handler)

    def on_error(self, handler: H) -> H:
        """Every ``ERROR`` frame, including those that also fail a request (``sync()``)."""
        return self.on("ERROR", handler)

    def on_state_change(self, handler: H) -> H:
        """`handler(StateChange)` on every state change and at the start of every attempt."""
        self._handlers.add(STATE_KEY, handler)
        return handler

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def last_seq(self, workspace_id: str) -> int | None:
        """The seq of the last event of `workspace_id` delivered (None: not followed)."""
        return self._positions.last(workspace_id)

    def positions(self) -> dict[str, int]:
        """``{workspaceId: last seq delivered}``, to store and pass as ``resume`` later."""
        return self._positions.resume_map()

    async def connect(self) -> None:
        """Start connecting and wait until the connection is open and authenticated.

        Failed attempts are retried with back-off meanwhile, for as long as it takes: bound the
        wait with ``asyncio.timeout()``; when it is cancelled the client stops trying. When the
        client stops as ``unauthorized`` (tokens refused, see the class) it raises
        ``UnauthorizedError``.
        """
        if self._runner is not None and not self._runner.done():
            await self._wait_open(None)
            return
        self._stopping = False
        self._has_been_open = False
        self._refusals = Refusals()
        self._unauthorized = None
        self._dispatcher = Dispatcher(self._handlers, self._max_pending_events)
        self._dispatcher.start()
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="taskroom-client")
        try:
            await self._wait_open(None)
        except BaseException:
            await self.disconnect()
            raise

    async def _wait_open(self, limit: float | None) -> None:
        if self._runner is None:
            raise NotConnectedError("connect() first")
        opened = asyncio.ensure_future(self._opened.wait())
        try:
            done, _ = await asyncio.wait({opened, self._runner}, timeout=limit, return_when="FIRST_COMPLETED")
        finally:
            opened.cancel()
        if self._runner in done:
            self._runner.result()  # a bug in the loop surfaces here rather than as a silent hang
            if self._unauthorized is not None:
                raise self._unauthorized
            raise NotConnectedError("the client was disconnected")
        if not done:
            raise TimeoutError("the connection did not open in time")

    async def disconnect(self) -> None:
        """Close the connection (1000), stop reconnecting, deliver what was already received.

        The state becomes ``closed``, except after the client stopped as ``unauthorized``: that
        stays, so that the app can still see why it stopped.
        """
        self._stopping = True
        socket = self._socket
        if socket is not None:
            await socket.close()
        runner, self._runner = self._runner, None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        if self._state is not ConnectionState.UNAUTHORIZED:
            self._set_state(ConnectionState.CLOSED)
        if self._dispatcher is not None:
            dispatcher, self._dispatcher = self._dispatcher, None
            await dispatcher.drain_and_stop()

    async def __aenter__(self) -> TodoWebSocketClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    # --- sending ------------------------------------------------------------------------------

    async def update_presence(self, workspace_id: str, status: str) -> None:
        """Set this client's status in a workspace; it is sent again after every reconnect."""
        if status not in PRESENCE_STATUSES:
            raise ValueError(f"status must be one of {sorted(PRESENCE_STATUSES)}")
        self._presence[workspace_id] = status
        await self._send_if_open("USER_PRESENCE", {"workspaceId": workspace_id, "status": status})

    async def set_typing(self, workspace_id: str, task_id: str, is_typing: bool) -> bool:
        """Send a typing indicator; False when not connected (it is not queued: it would be stale)."""
        data = {"workspaceId": workspace_id, "taskId": task_id, "isTyping": bool(is_typing)}
        return await self._send_if_open("USER_TYPING", data)

    async def send_cursor(self, workspace_id: str, task_id: str | None, position: Mapping[str, Any]) -> bool:
        """Send a cursor position; False when not connected (not queued, like typing)."""
        data: dict[str, Any] = {"workspaceId": workspace_id, "position": dict(position)}
        if task_id is not None:
            data["taskId"] = task_id
        return await self._send_if_open("CURSOR_POSITION", data)

    async def sync(self, workspace_id: str, limit: int | None = None) -> SyncResult:
        """Ask for everything after the last seq delivered, page by page while ``hasMore``.

        Events not delivered yet go to their handlers (in order) before this returns, and every
        page to ``on_sync_response``. With a ``reset`` answer the snapshot is returned and the
        client follows the workspace from its ``latestSeq``. Waits for the connection to be open;
        a connection lost meanwhile raises NotConnectedError, an ``ERROR`` answer ServerError.
        """
        events: list[Event] = []
        while True:
            await self._wait_open(self._request_timeout)
            since = self._positions.last(workspace_id) or 0
            if events and events[-1].seq is not None:
                since = max(since, events[-1].seq)
            data: dict[str, Any] = {"workspaceId": workspace_id, "sinceSeq": since}
            if limit is not None:
                data["limit"] = limit
            page = await self._request("SYNC_REQUEST", data)
            latest = int(page.data.get("latestSeq", 0))
            if page.data.get("reset"):
                snapshot = page.data.get("snapshot")
                return SyncResult(
                    workspace_id, events, latest, snapshot if isinstance(snapshot, dict) else {}
                )
            events.extend(_decode_events(page.data.get("events")))
            if not page.data.get("hasMore"):
                return SyncResult(workspace_id, events, latest)

    async def _send_if_open(self, message_type: str, data: dict[str, Any]) -> bool:
        socket = self._socket
        if socket is None or self._state is not ConnectionState.OPEN:
            return False
        try:
            await socket.send(_frame(message_type, data))
        except ConnectionClosed:
            return False
        return True

    async def _request(self, message_type: str, data: dict[str, Any]) -> Event:
        socket = self._socket
        if socket is None:
            raise NotConnectedError("not connected")
        return await self._request_on(socket, message_type, data)

    async def _request_on(self, socket: ClientConnection, message_type: str, data: dict[str, Any]) -> Event:
        frame_id = f"c{next(self._ids)}"
        answer: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = answer
        try:
            await socket.send(_frame(message_type, data, frame_id))
            return await asyncio.wait_for(answer, self._request_timeout)
        except ConnectionClosed as exc:
            raise NotConnectedError("the connection was lost") from exc
        finally:
            self._pending.pop(frame_id, None)

    # --- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        delay = 0.0
        close_code: int | None = None
        reason: str | None = None
        while not self._stopping:
            attempt += 1
            waiting = ConnectionState.RECONNECTING if self._has_been_open else ConnectionState.CONNECTING
            self._set_state(waiting, attempt=attempt, close_code=close_code, reason=reason, delay=delay)
            self._was_open = False
            self._token_in_force = None
            self._last_close = (None, None)
            token: str | None = None
            try:
                token = await fetch_token(self._token_source)
                if self._refusals.was_refused(token):
                    self._stop_unauthorized(close_code, reason, "the provider handed back a refused token")
                    return
                await self._connect_once(token)
                close_code, reason = self._last_close
            except asyncio.CancelledError:
                raise
            except TokenUnavailable as exc:
                self._stop_unauthorized(close_code, reason, f"the provider has no token ({exc})")
                return
            except InvalidStatus as exc:
                close_code, reason = None, f"HTTP {exc.response.status_code}"
            except Exception as exc:  # every failure is one failed attempt: back off and retry
                close_code, reason = self._last_close if self._last_close[0] is not None else (None, str(exc))
                logger.info("connection attempt failed: %r", exc)
            finally:
                self._socket = None
                self._opened.clear()
                self._fail_pending()
            if self._stopping:
                return
            if close_code == UNAUTHORIZED_CLOSE and token is not None and await self._note_refusal(token):
                self._stop_unauthorized(
                    close_code, reason, f"{self._refusals.in_row} connects in a row were refused"
                )
                return
            if isinstance(self._token_source, str) and self._refusals.was_refused(self._token_source):
                self._stop_unauthorized(close_code, reason, "the fixed token was refused")
                return
            delay = self._backoff.next_delay()
            if self._was_open:
                attempt = 0
                self._set_state(ConnectionState.RECONNECTING, close_code=close_code, reason=reason)
            await asyncio.sleep(delay)

    async def _note_refusal(self, token: str) -> bool:
        """A close 4401: remember the token refused; True when no more connects are allowed."""
        if self._was_open:
            # The token in force expired or its session ended. None: a re-authentication was
            # refused, and that token is already noted (the one before it may still be good).
            in_force = self._token_in_force
            if in_force is not None:
                self._refusals.refused(in_force)
                await report_refused(self._token_source, in_force)
            return False
        give_up = self._refusals.refused_at_connect(token)
        await report_refused(self._token_source, token)
        return give_up

    def _stop_unauthorized(self, close_code: int | None, reason: str | None, why: str) -> None:
        logger.warning("stopped as unauthorized: %s", why)
        self._unauthorized = UnauthorizedError(close_code, reason, why)
        self._set_state(ConnectionState.UNAUTHORIZED, close_code=close_code, reason=reason)

    _has_been_open = False  # since connect(): later attempts are "reconnecting"
    _was_open = False  # the current attempt got as far as an authenticated connection
    _last_close: tuple[int | None, str | None] = (None, None)

    async def _connect_once(self, token: str) -> None:
        """One connection with `token`, from dialing to its end (normal, or an exception)."""
        self._last_close = (None, None)
        async with connect(
            self.url, open_timeout=self._open_timeout, max_size=self._max_frame_bytes
        ) as socket:
            try:
                await self._authenticate(socket, token)
                self._socket = socket
                self._token_in_force = token
                self._has_been_open = self._was_open = True
                self._backoff.opened()
                self._refusals.opened()
                self._set_state(ConnectionState.OPEN)
                self._opened.set()
                refresher = asyncio.get_running_loop().create_task(self._keep_token_fresh(socket))
                try:
                    await self._resend_presence(socket)
                    async for raw in socket:
                        await self._receive(raw)
                finally:
                    refresher.cancel()
                    await asyncio.gather(refresher, return_exceptions=True)
            finally:
                self._last_close = (socket.close_code, socket.close_reason or None)

    async def _authenticate(self, socket: ClientConnection, token: str) -> None:
        hello = await asyncio.wait_for(socket.recv(), self._open_timeout)
        if _decode(hello).type != "CONNECT":
            raise _UnexpectedGreeting(f"expected CONNECT first, got {hello!r:.100}")
        resume = self._positions.resume_map()
        self._joined.clear()  # what this connection joins is what its answer (and later events) say
        data: dict[str, Any] = {"token": token, "resume": resume}
        ids = self._requested_workspaces()
        if ids is not None:
            data["workspaceIds"] = ids
        auth_id = f"auth{next(self._ids)}"
        await socket.send(_frame("AUTHENTICATE", data, auth_id))
        deadline = asyncio.get_running_loop().time() + self._open_timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            raw = await asyncio.wait_for(socket.recv(), max(left, 0.001))
            event = _decode(raw)
            if event.reply_to == auth_id:
                if event.type != "AUTHENTICATE":
                    await self._deliver(event)  # the ERROR goes to on_error too
                    # The server closes (4401) right after: wait for it, so the close code is reported.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(socket.wait_closed(), self._open_timeout)
                    raise ServerError(str(event.data.get("code")), str(event.data.get("message")))
                break
            await self._receive(raw)
        self._apply_authentication(event, resumed=resume)

    def _requested_workspaces(self) -> list[str] | None:
        if self._workspace_ids is None:
            return None
        followed = [w for w in self._positions.resume_map() if w not in self._workspace_ids]
        return [*self._workspace_ids, *followed]

    def _apply_authentication(self, answer: Event, resumed: Iterable[str]) -> dict[str, int]:
        user_id = answer.data.get("userId")
        self.user_id = user_id if isinstance(user_id, str) else self.user_id
        rooms = {
            str(room["id"]): int(room["seq"])
            for room in answer.data.get("workspaces", [])
            if isinstance(room, dict) and "id" in room and "seq" in room
        }
        self._positions.joined(rooms.items(), resumed)
        self._joined.update(rooms)
        denied = answer.data.get("denied")
        self.denied = frozenset(str(w) for w in denied) if isinstance(denied, list) else frozenset()
        self._expires_at = _parse_time(answer.data.get("expiresAt"))
        return rooms

    _expires_at: float | None = None

    async def _resend_presence(self, socket: ClientConnection) -> None:
        for workspace_id, status in list(self._presence.items()):
            if workspace_id in self._joined:
                await socket.send(_frame("USER_PRESENCE", {"workspaceId": workspace_id, "status": status}))

    async def _keep_token_fresh(self, socket: ClientConnection) -> None:
        """Send AUTHENTICATE with a fresh token from the provider a little before the current expires.

        A refresh that fails is tried again shortly; if the token expires meanwhile the server
        closes 4401 and the next connection asks the provider again. A fresh token the server
        refuses is noted as refused (the server closes 4401 after it).
        """
        if isinstance(self._token_source, str):
            return
        while True:
            expires_at = self._expires_at
            if expires_at is None:
                return
            await asyncio.sleep(refresh_delay(expires_at - time.time(), self._refresh_margin))
            try:
                token = await fetch_token(self._token_source)
                if self._refusals.was_refused(token):
                    # Sending it would only end a connection that still works until expiry.
                    logger.warning("the token provider handed back a refused token; not sent")
                    return
                data: dict[str, Any] = {"token": token}
                ids = self._requested_workspaces()
                if ids is not None:
                    data["workspaceIds"] = ids
                try:
                    answer = await self._request_on(socket, "AUTHENTICATE", data)
                except ServerError as error:
                    if error.code in _REFUSAL_CODES:
                        self._refusals.refused(token)
                        self._token_in_force = None
                        await report_refused(self._token_source, token)
                    raise
                self._apply_authentication(answer, resumed=())
                self._token_in_force = token
            except (ServerError, NotConnectedError, TokenUnavailable):
                return  # the server closes the connection (at expiry at the latest); the next one asks again
            except Exception as exc:
                logger.warning("token refresh failed, trying again: %r", exc)
                await asyncio.sleep(1.0)

    # --- receiving ----------------------------------------------------------------------------

    async def _receive(self, raw: str | bytes) -> None:
        try:
            event = _decode(raw)
        except ValueError as exc:
            logger.warning("ignored a frame that is not a server envelope: %s", exc)
            return
        answer = self._pending.pop(event.reply_to, None) if event.reply_to is not None else None
        if answer is not None and not answer.done():
            if event.type == "ERROR":
                answer.set_exception(ServerError(str(event.data.get("code")), str(event.data.get("message"))))
            else:
                answer.set_result(event)
        if event.type == "SYNC_RESPONSE":
            await self._receive_sync_page(event)
        elif event.seq is not None:
            if self._judge(event):
                await self._deliver(event)
        elif event.type in ("AUTHENTICATE", "PONG", "CONNECT"):
            return  # answers to this client's own requests
        else:
            if event.type == "WORKSPACE_CREATED":
                workspace = event.data.get("workspace")
                if isinstance(workspace, dict) and isinstance(workspace.get("id"), str):
                    # The creator's connections join with the new workspace's log from its start.
                    self._positions.start_at(workspace["id"], 0)
                    self._joined.add(workspace["id"])
            await self._deliver(event)

    def _judge(self, event: Event) -> bool:
        """Whether a logged event is new; raises _Resync past a gap. Updates what is followed."""
        workspace_id = event.workspace_id
        assert event.seq is not None
        if workspace_id is None:
            return True
        verdict = self._positions.accept(workspace_id, event.seq)
        if verdict is Verdict.DUPLICATE:
            return False
        if verdict is Verdict.GAP:
            last = self._positions.last(workspace_id)
            logger.warning("gap in %s: seq %s after %s; resuming", workspace_id, event.seq, last)
            raise _Resync(workspace_id)
        left = event.type == "WORKSPACE_DELETED" or (
            event.type == "WORKSPACE_MEMBER_REMOVED" and event.data.get("userId") == self.user_id
        )
        if left:
            self._positions.forget(workspace_id)
            self._joined.discard(workspace_id)
            self._presence.pop(workspace_id, None)
        else:
            self._joined.add(workspace_id)
        return True

    async def _receive_sync_page(self, page: Event) -> None:
        workspace_id = page.workspace_id
        if workspace_id is not None and page.data.get("reset"):
            self._positions.reset_to(workspace_id, int(page.data.get("latestSeq", 0)))
        else:
            for event in _decode_events(page.data.get("events")):
                if event.seq is not None and self._judge(event):
                    await self._deliver(event)
        await self._deliver(page)

    async def _deliver(self, event: Event) -> None:
        if self._dispatcher is not None:
            await self._dispatcher.put(event.type, event)

    def _set_state(
        self,
        state: ConnectionState,
        *,
        attempt: int = 0,
        close_code: int | None = None,
        reason: str | None = None,
        delay: float | None = None,
    ) -> None:
        previous = self._state
        if state is previous and attempt == 0:
            return
        self._state = state
        change = StateChange(state, previous, time.monotonic(), attempt, close_code, reason, delay)
        if self._dispatcher is not None:
            self._dispatcher.put_nowait(STATE_KEY, change)

    def _fail_pending(self) -> None:
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(NotConnectedError("the connection was lost"))
        self._pending.clear()


def _frame(message_type: str, data: dict[str, Any], frame_id: str | None = None) -> str:
    frame: dict[str, Any] = {"type": message_type, "data": data, "timestamp": _now_iso()}
    if frame_id is not None:
        frame["id"] = frame_id
    return json.dumps(frame, separators=(",", ":"))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decode(raw: str | bytes) -> Event:
    frame = json.loads(raw)
    if not isinstance(frame, dict):
        raise ValueError("a server frame is a JSON object")
    return Event.from_frame(frame)


def _decode_events(value: object) -> list[Event]:
    if not isinstance(value, list):
        return []
    return [Event.from_frame(item) for item in value if isinstance(item, dict)]


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
