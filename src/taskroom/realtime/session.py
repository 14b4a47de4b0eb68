"""One client's conversation: what each frame does once the protocol core has admitted it.

The socket hands frames over as they arrive (`on_text`, `on_binary`, `on_disconnect`); they are
handled one at a time, in order, by a task that exists only while frames are waiting, so an idle
connection costs no task. A client that sends faster than its frames are handled has its socket
read paused (TCP slows it) rather than its frames queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ..edge.authenticator import Authenticator
from ..edge.identity import Refusal
from ..edge.origins import OriginPolicy
from ..errors import Gone, NotFound
from ..metrics import NodeMetrics
from ..security.token_bucket import TokenBucket
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from ..timeutil import format_timestamp
from .connection import Connection, Flusher, ReadableLink
from .pending import PendingSockets
from .port import SessionPort
from .protocol import (
    AuthenticateFrame,
    CloseCode,
    ConnectionState,
    CursorPositionFrame,
    FeatureDisabled,
    Forbidden,
    InternalError,
    InvalidMessage,
    LatestWinsThrottle,
    MessageType,
    PingFrame,
    ProtocolError,
    RateLimited,
    SyncRequestFrame,
    TokenExpired,
    Unauthorized,
    UserPresenceFrame,
    UserTypingFrame,
    encode_error,
    encode_server_frame,
    iso_now,
    parse_client_frame,
)
from .ratelimit import AbuseCounter

logger = logging.getLogger(__name__)

TYPING_TTL = 5.0  # seconds a typing indicator lasts without a refresh (PROTOCOL §3.3)
CURSOR_INTERVAL = 1 / 20  # at most 20 cursor updates a second per connection
CURSOR_COST = 0.25  # rate-limit tokens per cursor frame: 80 a second fit in the default 20/s
# A cursor moves 20 times a second over the same task: its task is looked up once a while, not
# every time. A task deleted meanwhile may still be named for that long, which shows nothing new.
KNOWN_TASK_SECONDS = 30.0
KNOWN_TASKS_PER_CONNECTION = 256


# Frames a session may have waiting before the socket stops being read: a client that sends
# faster than its frames are handled is slowed by TCP, not by memory.
MAX_WAITING_FRAMES = 32
_BINARY = object()  # stands in the inbox for a binary frame, which is answered, never parsed


class SessionFactory:
    """Opens a session for each upgraded socket of `WS /api/v1/ws` (see `transport.py`)."""

    def __init__(
        self,
        hub: SessionPort,
        metrics: NodeMetrics,
        flusher: Flusher,
        authenticator: Authenticator,
        feeds: WorkspaceFeeds,
        settings: Settings,
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.flusher = flusher
        self.authenticator = authenticator
        self.feeds = feeds
        self.settings = settings
        self._origins = OriginPolicy.from_settings(settings)
        self.pending = PendingSockets(settings.ws_max_pending_per_address)

    def origin_allowed(self, origin: str | None) -> bool:
        return self._origins.allows(origin)

    def admit_pending(self, address: str) -> bool:
        return self.pending.try_admit(address)

    def open(self, link: ReadableLink, address: str) -> ClientSession:
        """A session for a socket already counted as pending from `address` (`admit_pending`)."""
        session = ClientSession(
            link, self.hub, self.metrics, self.flusher, self.authenticator, self.feeds, self.settings
        )
        session.pending_release = functools.partial(self.pending.release, address)
        session.start()
        return session


class ClientSession:
    def __init__(
        self,
        link: ReadableLink,
        hub: SessionPort,
        metrics: NodeMetrics,
        flusher: Flusher,
        authenticator: Authenticator,
        feeds: WorkspaceFeeds,
        settings: Settings,
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.authenticator = authenticator
        self.feeds = feeds
        self.settings = settings
        self.link = link
        self.connection = Connection(
            link,
            uuid.uuid4().hex,
            settings.ws_max_buffered_bytes,
            flusher,
            on_slow_consumer=metrics.connection_dropped,
        )
        self.state = ConnectionState()
        self.bucket = TokenBucket(settings.ws_rate_limit, settings.ws_rate_limit_burst)
        # Rejections in a row before the connection is closed 1008: a client that ignores
        # RATE_LIMITED for a whole burst is abusing, not bursting.
        self.abuse = AbuseCounter(int(settings.ws_rate_limit_burst))
        self.cursor_throttle: LatestWinsThrottle[tuple[str, str]] = LatestWinsThrottle(CURSOR_INTERVAL)
        self._cursor_flush: asyncio.TimerHandle | None = None
        self._typing: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._auth_timer: asyncio.TimerHandle | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._inbox: deque[bytes | object] = deque()
        # Tasks this connection named and the workspace has, until when they count as checked.
        self._known_tasks: dict[tuple[str, str], float] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._registered = False
        self._disconnected = False
        # Set by the factory: stops counting this socket as unauthenticated against its address.
        self.pending_release: Callable[[], None] | None = None
        self._handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            MessageType.AUTHENTICATE: self._authenticate,
            MessageType.PING: self._ping,
            MessageType.SYNC_REQUEST: self._sync,
            MessageType.USER_PRESENCE: self._presence,
            MessageType.USER_TYPING: self._typing_frame,
            MessageType.CURSOR_POSITION: self._cursor,
        }

    # --- the connection's life ------------------------------------------------------------------

    def start(self) -> None:
        """The socket is upgraded: greet it (or turn it away when the node is full)."""
        connection = self.connection
        if not self.hub.open(connection):
            self.metrics.connection_opened()
            connection.close(CloseCode.TRY_AGAIN_LATER, "node at its connection limit")
            return
        self._registered = True
        loop = asyncio.get_running_loop()
        self._auth_timer = loop.call_later(self.settings.ws_auth_timeout / 1000, self._auth_timed_out)
        self._send(
            MessageType.CONNECT,
            encode_server_frame(
                MessageType.CONNECT,
                {
                    "connectionId": connection.id,
                    "nodeId": self.settings.node_id,
                    "heartbeatInterval": self.settings.ws_heartbeat_interval,
                    "authTimeout": self.settings.ws_auth_timeout,
                },
            ),
        )

    def on_text(self, data: bytes) -> None:
        self._receive(data)

    def on_binary(self, data: bytes) -> None:
        self._receive(_BINARY)

    def on_closing(self) -> None:
        self.connection.lost()

    def on_disconnect(self) -> None:
        self._disconnected = True
        self._no_longer_pending()
        self.connection.lost()
        self._inbox.clear()
        if not self._registered:
            self.metrics.connection_closed(was_authenticated=False)
        elif self._worker is None:  # else the worker tidies up once its frame is handled
            self.hub.spawn(self._cleanup())

    def _no_longer_pending(self) -> None:
        release, self.pending_release = self.pending_release, None
        if release is not None:
            release()

    def _receive(self, item: bytes | object) -> None:
        if self.connection.closing or not self._registered:
            return
        self._inbox.append(item)
        if len(self._inbox) >= MAX_WAITING_FRAMES:
            self.link.pause_reading()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name=f"ws-{self.connection.id}"
            )

    async def _work(self) -> None:
        try:
            while self._inbox:
                item = self._inbox.popleft()
                if len(self._inbox) < MAX_WAITING_FRAMES // 2:
                    self.link.resume_reading()
                if not self.connection.closing:
                    await self._on_frame(item)
        finally:
            self._worker = None
            if self._disconnected:
                await self._cleanup()

    async def _cleanup(self) -> None:
        self.state.close()
        for timer in (self._auth_timer, self._expiry_timer, self._cursor_flush, *self._typing.values()):
            if timer is not None:
                timer.cancel()
        typing, self._typing = list(self._typing), {}
        for workspace_id, task_id in typing:
            with contextlib.suppress(Exception):
                await self._publish_typing(workspace_id, task_id, False)
        await self.hub.unregister(self.connection)

    def _auth_timed_out(self) -> None:
        if self.state.user_id is None:
            self.connection.close(CloseCode.AUTH_TIMEOUT, "authentication timeout")

    def _token_expired(self) -> None:
        self._send(MessageType.ERROR, encode_error(_token_expired_error()))
        self.connection.close(CloseCode.UNAUTHORIZED, "token expired")

    # --- one frame ------------------------------------------------------------------------------

    async def _on_frame(self, raw: bytes | object) -> None:
        try:
            if not isinstance(raw, bytes):
                raise InvalidMessage("binary frames are not commands: send JSON text frames")
            frame = parse_client_frame(raw)
        except ProtocolError as err:
            if await self._admit_rate(1.0):
                self._send(MessageType.ERROR, encode_error(err))
            return
        # Cursor updates are thinned to 20/s anyway; counting each at full price would have a
        # client moving its pointer at 60 fps rate-limited, then closed.
        if not await self._admit_rate(CURSOR_COST if frame.type == MessageType.CURSOR_POSITION else 1.0):
            return
        try:
            self.metrics.message_in(frame.type)
            self.state.admit(frame)
            await self._handlers[frame.type](frame)
        except ProtocolError as err:
            self._send(MessageType.ERROR, encode_error(err))
            if err.close_code is not None:
                self.connection.close(err.close_code, err.message)
        except Exception:
            logger.exception("failed to handle a frame on %s", self.connection.id)
            self._send(MessageType.ERROR, encode_error(InternalError("internal error", reply_to=frame.id)))

    async def _admit_rate(self, cost: float) -> bool:
        # The connection's own bucket first, in memory: a connection over its rate costs no
        # round trip to a shared store.
        user_id = self.state.user_id
        if self.bucket.try_acquire(cost) and (user_id is None or await self.hub.admit_frame(user_id, cost)):
            self.abuse.accepted()
            return True
        self.metrics.frame_rate_limited()
        if self.abuse.rejected():
            self._send(
                MessageType.ERROR, encode_error(RateLimited("rate limit exceeded repeatedly; closing"))
            )
            self.connection.close(CloseCode.POLICY_VIOLATION, "rate limit abuse")
        else:
            self._send(MessageType.ERROR, encode_error(RateLimited("slow down: message rate limit exceeded")))
        return False

    def _send(self, message_type: MessageType, frame: str) -> None:
        """Queue a frame this session answers with, counted in the node's messages out."""
        self.connection.send_text(frame)
        self.metrics.message_out(message_type)

    async def _require_task(self, workspace_id: str, task_id: str, reply_to: str | None) -> None:
        """The task must be one of the workspace's: a typing indicator or cursor never names
        another workspace's task (or anything that is not a task) to the room."""
        now = asyncio.get_running_loop().time()
        known = self._known_tasks
        if known is not None and known.get((workspace_id, task_id), 0.0) > now:
            return
        if not await self.feeds.has_task(workspace_id, task_id):
            raise InvalidMessage("taskId: no such task in this workspace", reply_to=reply_to)
        if known is None or len(known) >= KNOWN_TASKS_PER_CONNECTION:
            known = self._known_tasks = {}
        known[(workspace_id, task_id)] = now + KNOWN_TASK_SECONDS

    def _require_joined(self, workspace_id: str, reply_to: str | None) -> None:
        if not self.hub.joined(self.connection, workspace_id):
            raise Forbidden("this connection has not joined that workspace", reply_to=reply_to)

    # --- AUTHENTICATE ---------------------------------------------------------------------------

    async def _authenticate(self, frame: AuthenticateFrame) -> None:
        try:
            claims = await self.authenticator.verify_session(frame.data.token)
        except Refusal as exc:
            raise Unauthorized(f"authentication failed: {exc}", reply_to=frame.id) from exc
        checked_at = self.hub.membership_mark()
        # None when the account is gone: a correctly signed token of a deleted user opens nothing.
        candidates = await self.feeds.memberships(claims.user_id)
        if candidates is None:
            raise Unauthorized("authentication failed: the account no longer exists", reply_to=frame.id)
        first = self.state.user_id is None
        try:
            self.state.authenticated(claims.user_id, claims.expires_at)
        except Unauthorized as err:
            raise Unauthorized(err.message, reply_to=frame.id) from err
        connection = self.connection
        if first:
            if not await self.hub.admit_user(connection, claims.user_id):
                connection.close(CloseCode.TRY_AGAIN_LATER, "too many connections for this user")
                return
            if self._auth_timer is not None:
                self._auth_timer.cancel()
            self._no_longer_pending()
        self._schedule_expiry(claims.expires_at)
        self.hub.identified(connection, claims)  # closed 4401 when its session ends (revocations.py)

        requested = (
            list(dict.fromkeys(frame.data.workspace_ids)) if frame.data.workspace_ids is not None else None
        )
        wanted = sorted(candidates) if requested is None else [w for w in requested if w in candidates]

        def reply(joined: dict[str, int]) -> None:
            denied = [] if requested is None else [w for w in requested if w not in joined]
            self._send(
                MessageType.AUTHENTICATE,
                encode_server_frame(
                    MessageType.AUTHENTICATE,
                    {
                        "success": True,
                        "userId": claims.user_id,
                        "expiresAt": format_timestamp(datetime.fromtimestamp(claims.expires_at, UTC)),
                        "workspaces": [{"id": w, "seq": seq} for w, seq in joined.items()],
                        "denied": denied,
                    },
                    reply_to=frame.id,
                ),
            )

        result = await self.hub.join(connection, wanted, frame.data.resume or {}, checked_at=checked_at)
        reply(result.joined)  # nothing awaited since the joins: each seq is exactly where it joined
        await result.finish()

    def _schedule_expiry(self, expires_at: float) -> None:
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        delay = max(0.0, expires_at - time.time())
        self._expiry_timer = asyncio.get_running_loop().call_later(delay, self._token_expired)

    # --- the rest -------------------------------------------------------------------------------

    async def _ping(self, frame: PingFrame) -> None:
        self._send(
            MessageType.PONG,
            encode_server_frame(MessageType.PONG, {"serverTime": iso_now()}, reply_to=frame.id),
        )

    async def _sync(self, frame: SyncRequestFrame) -> None:
        data = frame.data
        self._require_joined(data.workspace_id, frame.id)
        try:
            page = await self.feeds.read_page(data.workspace_id, data.since_seq, data.limit)
        except Gone:
            await self.hub.send_reset(self.connection, data.workspace_id, frame.id)
            return
        except NotFound as exc:
            raise Forbidden("this connection has not joined that workspace", reply_to=frame.id) from exc
        # One frame over the outbound bound would close the connection as a slow consumer: a page
        # stops at half of it (at least one event) and says hasMore.
        budget = self.settings.ws_max_buffered_bytes // 2
        envelopes: list[str] = []
        size = 0
        for envelope in page.envelopes:
            if envelopes and size + len(envelope) > budget:
                break
            envelopes.append(envelope)
            size += len(envelope) + 1
        # The stored envelopes are JSON already: splice them in rather than decode and re-encode.
        body = encode_server_frame(
            MessageType.SYNC_RESPONSE,
            {
                "workspaceId": data.workspace_id,
                "events": [],
                "latestSeq": page.latest_seq,
                "hasMore": page.has_more or len(envelopes) < len(page.envelopes),
            },
            reply_to=frame.id,
        )
        body = body.replace('"events":[]', '"events":[' + ",".join(envelopes) + "]", 1)
        await self.connection.wait_for_room(len(body))
        self._send(MessageType.SYNC_RESPONSE, body)

    async def _presence(self, frame: UserPresenceFrame) -> None:
        self._feature(self.settings.ws_enable_presence, "presence", frame.id)
        self._require_joined(frame.data.workspace_id, frame.id)
        await self.hub.track_presence(self.connection, frame.data.workspace_id, frame.data.status)

    async def _typing_frame(self, frame: UserTypingFrame) -> None:
        self._feature(self.settings.ws_enable_typing, "typing indicators", frame.id)
        data = frame.data
        self._require_joined(data.workspace_id, frame.id)
        key = (data.workspace_id, data.task_id)
        if data.is_typing:
            await self._require_task(data.workspace_id, data.task_id, frame.id)
        elif key not in self._typing:
            # A stop for typing this connection never started: relayed only for a task of the
            # workspace (another connection of the user may have started it), else dropped
            # quietly, so no string of the client's reaches the room unchecked. A stop of what
            # it did start is always relayed, even if the task is gone meanwhile.
            try:
                await self._require_task(data.workspace_id, data.task_id, frame.id)
            except InvalidMessage:
                return
        timer = self._typing.pop(key, None)
        if timer is not None:
            timer.cancel()
        if data.is_typing:
            self._typing[key] = asyncio.get_running_loop().call_later(TYPING_TTL, self._typing_expired, key)
        await self._publish_typing(data.workspace_id, data.task_id, data.is_typing)

    def _typing_expired(self, key: tuple[str, str]) -> None:
        if self._typing.pop(key, None) is not None:
            self.hub.spawn(self._publish_typing(key[0], key[1], False))

    async def _publish_typing(self, workspace_id: str, task_id: str, is_typing: bool) -> None:
        assert self.state.user_id is not None
        frame = encode_server_frame(
            MessageType.USER_TYPING,
            {
                "workspaceId": workspace_id,
                "taskId": task_id,
                "userId": self.state.user_id,
                "isTyping": is_typing,
            },
        )
        await self.hub.publish_ephemeral(workspace_id, MessageType.USER_TYPING, frame, self.connection.id)

    async def _cursor(self, frame: CursorPositionFrame) -> None:
        self._feature(self.settings.ws_enable_cursors, "cursors", frame.id)
        data = frame.data
        self._require_joined(data.workspace_id, frame.id)
        if data.task_id is not None:
            await self._require_task(data.workspace_id, data.task_id, frame.id)
        assert self.state.user_id is not None
        out = encode_server_frame(
            MessageType.CURSOR_POSITION,
            {
                "workspaceId": data.workspace_id,
                "taskId": data.task_id,
                "userId": self.state.user_id,
                "position": data.position,
            },
        )
        # The loop's clock, the one its timers run on: a timer may fire a hair early by another clock.
        now = asyncio.get_running_loop().time()
        ready = self.cursor_throttle.offer(now, (data.workspace_id, out))
        if ready is not None:
            await self.hub.publish_ephemeral(
                ready[0], MessageType.CURSOR_POSITION, ready[1], self.connection.id
            )
        elif self._cursor_flush is None:
            due = self.cursor_throttle.due_at() or now
            self._cursor_flush = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self._flush_cursor
            )

    def _flush_cursor(self) -> None:
        self._cursor_flush = None
        now = asyncio.get_running_loop().time()
        pending = self.cursor_throttle.take_due(now)
        due = self.cursor_throttle.due_at()
        if pending is None and due is not None:
            # A cursor went out directly since this timer was set: the held one waits its own turn.
            self._cursor_flush = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self._flush_cursor
            )
            return
        if pending is not None and self.hub.joined(self.connection, pending[0]):
            self.hub.spawn(
                self.hub.publish_ephemeral(
                    pending[0], MessageType.CURSOR_POSITION, pending[1], self.connection.id
                )
            )

    @staticmethod
    def _feature(enabled: bool, name: str, reply_to: str | None) -> None:
        if not enabled:
            raise FeatureDisabled(f"{name} are switched off on this server", reply_to=reply_to)


def _token_expired_error() -> ProtocolError:
    return TokenExpired("the token expired; reconnect with a fresh one")
