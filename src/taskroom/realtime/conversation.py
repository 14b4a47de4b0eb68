"""One connection of `WS /api/v1/ws` as rules without I/O: inputs in, actions out.

Everything that decides what a connection does lives here: its phase, the one user id, the
token's expiry, the authentication deadline, the rate bucket and abuse count, typing deadlines,
the cursor throttle and the tasks it has already checked. No sockets, no database, no asyncio.
The caller (the session in `session.py`) feeds inputs and carries out the actions returned:

* `opened(now)` once, then `receive(raw, now)` per frame (`raw=None` for a binary frame) and
  `timer_due(now)` when the last `WakeAt` comes due;
* the results of actions that ask something of the world, each answered before the next input:
  `rate_checked`, `credential_checked`, `user_admitted`, `joined`, `task_checked`,
  `page_read` / `page_gone` / `page_missing`; and `failed()` when carrying out an action raised;
* `closed()` when the socket is gone.

Caller obligations (as websockets' sans-I/O protocol documents its own): actions are carried out
in order; an action that asks a question (`CheckRate`, `Authenticate`, `AdmitUser`, `Join`,
`CheckTask`, `ReadPage`) is answered through the matching method before any other input; after
`Join` is answered the caller finishes the join (catch-up, presence) once the reply is queued;
`now` is one monotonic clock that never steps back, the one `WakeAt` is measured on.

Its state is laid out in one place, as h11 lays out its state table: `Phase` and
`ALLOWED_TYPES` say what each phase accepts, and `_HANDLERS` what each frame type does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeAlias

from ..durations import Seconds
from ..edge.identity import Refusal
from ..security.token_bucket import TokenBucket
from ..services.log import LogPage
from ..settings import Settings
from ..timeutil import format_timestamp
from .protocol import (
    CLIENT_TYPES,
    AuthenticateFrame,
    ClientFrame,
    CloseCode,
    CursorPositionFrame,
    FeatureDisabled,
    Forbidden,
    InternalError,
    InvalidMessage,
    LatestWinsThrottle,
    MessageType,
    NotAuthenticated,
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

TYPING_TTL = 5.0  # seconds a typing indicator lasts without a refresh (PROTOCOL §3.3)
CURSOR_INTERVAL = 1 / 20  # at most 20 cursor updates a second per connection
CURSOR_COST = 0.25  # rate-limit tokens per cursor frame: 80 a second fit in the default 20/s
# A cursor moves 20 times a second over the same task: its task is looked up once a while, not
# every time. A task deleted meanwhile may still be named for that long, which shows nothing new.
KNOWN_TASK_SECONDS = 30.0
KNOWN_TASKS_PER_CONNECTION = 256


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Send:
    """Queue `text` on the socket. `wait_for_room`: wait until the outbound buffer can take it
    (a SYNC page may be large) instead of closing the connection as a slow consumer."""

    message_type: MessageType
    text: str
    wait_for_room: bool = False


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class CheckRate:
    """Take `cost` from the user's bucket shared by all their connections; answer `rate_checked`."""

    cost: float


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Verify the credential and read the account's memberships; answer `credential_checked`."""

    token: str


@dataclass(frozen=True, slots=True)
class AdmitUser:
    """Hold one of the user's connection slots and bind the connection; answer `user_admitted`."""

    user_id: str


@dataclass(frozen=True, slots=True)
class Join:
    """Join these rooms (resuming where given); answer `joined`, then finish the join."""

    workspace_ids: tuple[str, ...]
    resume: dict[str, int]
    checked_at: int


@dataclass(frozen=True, slots=True)
class CheckTask:
    """Whether the task is one of the workspace's; answer `task_checked`."""

    workspace_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class ReadPage:
    """Read the workspace's log after `since_seq`; answer `page_read`, `page_gone` or `page_missing`."""

    workspace_id: str
    since_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class SendReset:
    """Tell the connection its resume point is older than the log keeps."""

    workspace_id: str
    reply_to: str | None


@dataclass(frozen=True, slots=True)
class Publish:
    """Relay a frame that is not logged (typing, cursor) to the room, not back to this connection."""

    workspace_id: str
    message_type: MessageType
    text: str


@dataclass(frozen=True, slots=True)
class TrackPresence:
    workspace_id: str
    status: str


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Call `timer_due` at `when` (on the clock `now` is read from); None: no wake-up needed.
    Replaces any earlier `WakeAt`."""

    when: float | None


Action: TypeAlias = (
    Send
    | Close
    | CheckRate
    | Authenticate
    | AdmitUser
    | Join
    | CheckTask
    | ReadPage
    | SendReset
    | Publish
    | TrackPresence
    | WakeAt
)


# --------------------------------------------------------------------------- inputs and rules


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential and what was read for it, as `credential_checked` takes it.

    `memberships` is None when the account no longer exists. `expires_in` is the credential's
    life left in seconds at the `now` it is handed over with; `expires_at` (epoch seconds) is
    only repeated to the client. `checked_at` is the join mark taken before the memberships
    were read (see `Joins.start_mark`)."""

    user_id: str
    expires_at: float
    expires_in: float
    memberships: set[str] | None
    checked_at: int


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings a conversation follows, read once per node."""

    node_id: str
    heartbeat_interval_ms: int
    auth_timeout_ms: int  # announced in CONNECT, in the unit of its setting
    auth_timeout: Seconds
    rate: float
    burst: float
    presence: bool = True
    typing: bool = True
    cursors: bool = True
    # One frame over the outbound bound would close the connection as a slow consumer: a SYNC
    # page stops at this many bytes (half the bound, at least one event) and says hasMore.
    page_budget: int = 524_288

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            node_id=settings.node_id,
            heartbeat_interval_ms=settings.ws_heartbeat_interval,
            auth_timeout_ms=settings.ws_auth_timeout,
            auth_timeout=settings.ws_auth_timeout_seconds,
            rate=settings.ws_rate_limit,
            burst=settings.ws_rate_limit_burst,
            presence=settings.ws_enable_presence,
            typing=settings.ws_enable_typing,
            cursors=settings.ws_enable_cursors,
            page_budget=settings.ws_max_buffered_bytes // 2,
        )


class Rooms(Protocol):
    """The one question the core asks without an action: rooms change behind its back (a member
    removed from a workspace leaves its room), so whether it is in one is asked when needed."""

    def joined(self, workspace_id: str) -> bool: ...


class FrameCounters(Protocol):
    def message_in(self, message_type: str) -> None: ...

    def frame_rate_limited(self) -> None: ...


class Phase(StrEnum):
    CONNECTED = "CONNECTED"  # greeted; only AUTHENTICATE and PING until a credential is admitted
    AUTHENTICATED = "AUTHENTICATED"
    CLOSED = "CLOSED"  # closing or gone: accepts nothing, wakes for nothing


#: Which client frames each phase accepts; CONNECTED answers the rest with NOT_AUTHENTICATED.
ALLOWED_TYPES: dict[Phase, frozenset[MessageType]] = {
    Phase.CONNECTED: frozenset({MessageType.AUTHENTICATE, MessageType.PING}),
    Phase.AUTHENTICATED: CLIENT_TYPES,
    Phase.CLOSED: frozenset(),
}

TaskKey: TypeAlias = tuple[str, str]  # (workspace id, task id)


@dataclass(slots=True)
class _Waiting:
    """The one question in flight and the frame it was asked for."""

    frame: ClientFrame | ProtocolError
    credential: Credential | None = None


# --------------------------------------------------------------------------- the core


class Conversation:
    """The rules of one connection; see the module's docstring for how it is driven."""

    __slots__ = (
        "_abuse",
        "_armed",
        "_bucket",
        "_cursors",
        "_now",
        "_waiting",
        "auth_deadline",
        "counters",
        "known_tasks",
        "phase",
        "rooms",
        "rules",
        "token_deadline",
        "typing_deadlines",
        "user_id",
    )

    def __init__(self, rules: Rules, counters: FrameCounters, rooms: Rooms) -> None:
        self.rules = rules
        self.counters = counters
        self.rooms = rooms
        self.phase = Phase.CONNECTED
        self.user_id: str | None = None  # the one user of this connection, once admitted
        self.auth_deadline: float | None = None
        self.token_deadline: float | None = None
        self.typing_deadlines: dict[TaskKey, float] = {}
        # Tasks this connection named and the workspace has, until when they count as checked.
        self.known_tasks: dict[TaskKey, float] | None = None
        self._now = 0.0
        self._armed: float | None = None  # the deadline of the last WakeAt handed out
        self._waiting: _Waiting | None = None
        # The bucket reads the time of the input being handled: the core has no clock of its own.
        self._bucket = TokenBucket(rules.rate, rules.burst, clock=lambda: self._now)
        # Rejections in a row before the connection is closed 1008: a client that ignores
        # RATE_LIMITED for a whole burst is abusing, not bursting.
        self._abuse = AbuseCounter(int(rules.burst))
        self._cursors: LatestWinsThrottle[tuple[str, str]] = LatestWinsThrottle(CURSOR_INTERVAL)

    # --- inputs -------------------------------------------------------------------------------

    def opened(self, connection_id: str, now: float) -> list[Action]:
        """The socket is upgraded: greet it (§3.1) and start the authentication deadline."""
        self._now = now
        self.auth_deadline = now + self.rules.auth_timeout
        greeting = encode_server_frame(
            MessageType.CONNECT,
            {
                "connectionId": connection_id,
                "nodeId": self.rules.node_id,
                "heartbeatInterval": self.rules.heartbeat_interval_ms,
                "authTimeout": self.rules.auth_timeout_ms,
            },
        )
        return self._settled([Send(MessageType.CONNECT, greeting)])

    def receive(self, raw: bytes | None, now: float) -> list[Action]:
        """One frame off the socket: its text, or None for a binary frame (answered, never parsed)."""
        self._now = now
        if self.phase is Phase.CLOSED:
            return []
        item: ClientFrame | ProtocolError
        if raw is None:
            item = InvalidMessage("binary frames are not commands: send JSON text frames")
        else:
            try:
                item = parse_client_frame(raw)
            except ProtocolError as err:
                item = err
        # Cursor updates are thinned to 20/s anyway; counting each at full price would have a
        # client moving its pointer at 60 fps rate-limited, then closed.
        cost = CURSOR_COST if isinstance(item, CursorPositionFrame) else 1.0
        # The connection's own bucket first, in memory: a connection over its rate costs no
        # round trip to the user's shared bucket.
        if not self._bucket.try_acquire(cost):
            return self._settled(self._rate_rejected())
        if self.user_id is not None:
            self._waiting = _Waiting(item)
            return [CheckRate(cost)]
        return self._settled(self._admitted(item))

    def rate_checked(self, allowed: bool, now: float) -> list[Action]:
        self._now = now
        item = self._take_waiting().frame
        return self._settled(self._admitted(item) if allowed else self._rate_rejected())

    def credential_checked(self, outcome: Credential | Refusal, now: float) -> list[Action]:
        self._now = now
        waiting = self._take_waiting()
        frame = waiting.frame
        assert isinstance(frame, AuthenticateFrame)
        if isinstance(outcome, Refusal):
            return self._settled(
                self._refuse(Unauthorized(f"authentication failed: {outcome}", reply_to=frame.id))
            )
        if outcome.memberships is None:  # a correctly signed token of a deleted user opens nothing
            message = "authentication failed: the account no longer exists"
            return self._settled(self._refuse(Unauthorized(message, reply_to=frame.id)))
        if self.user_id is not None and outcome.user_id != self.user_id:
            message = "this connection is authenticated as another user"
            return self._settled(self._refuse(Unauthorized(message, reply_to=frame.id)))
        if self.user_id is None:
            self._waiting = _Waiting(frame, outcome)
            return [AdmitUser(outcome.user_id)]
        return self._settled(self._join(frame, outcome))

    def user_admitted(self, admitted: bool, now: float) -> list[Action]:
        self._now = now
        waiting = self._take_waiting()
        assert isinstance(waiting.frame, AuthenticateFrame) and waiting.credential is not None
        if not admitted:
            return self._settled(self._close(CloseCode.TRY_AGAIN_LATER, "too many connections for this user"))
        self.user_id = waiting.credential.user_id
        self.phase = Phase.AUTHENTICATED
        self.auth_deadline = None
        return self._settled(self._join(waiting.frame, waiting.credential))

    def joined(self, rooms: dict[str, int], now: float) -> list[Action]:
        """The join's result: each workspace joined, with its room's seq at the moment of joining."""
        self._now = now
        waiting = self._take_waiting()
        frame, credential = waiting.frame, waiting.credential
        assert isinstance(frame, AuthenticateFrame) and credential is not None
        requested = frame.data.workspace_ids
        denied = [] if requested is None else [w for w in dict.fromkeys(requested) if w not in rooms]
        reply = encode_server_frame(
            MessageType.AUTHENTICATE,
            {
                "success": True,
                "userId": credential.user_id,
                "expiresAt": format_timestamp(datetime.fromtimestamp(credential.expires_at, UTC)),
                "workspaces": [{"id": w, "seq": seq} for w, seq in rooms.items()],
                "denied": denied,
            },
            reply_to=frame.id,
        )
        return self._settled([Send(MessageType.AUTHENTICATE, reply)])

    def task_checked(self, exists: bool, now: float) -> list[Action]:
        self._now = now
        frame = self._take_waiting().frame
        assert isinstance(frame, UserTypingFrame | CursorPositionFrame)
        data = frame.data
        assert data.task_id is not None
        key = (data.workspace_id, data.task_id)
        if exists:
            self._remember_task(key)
        elif (
            isinstance(frame, UserTypingFrame)
            and not frame.data.is_typing
            and key not in self.typing_deadlines
        ):
            # A stop for typing this connection never started, of no task of the workspace:
            # dropped quietly, so no string of the client's reaches the room unchecked.
            return self._settled([])
        else:
            error = InvalidMessage("taskId: no such task in this workspace", reply_to=frame.id)
            return self._settled(self._refuse(error))
        if isinstance(frame, UserTypingFrame):
            return self._settled(self._typing_checked(frame))
        return self._settled(self._cursor_checked(frame))

    def page_read(self, page: LogPage, now: float) -> list[Action]:
        self._now = now
        frame = self._take_waiting().frame
        assert isinstance(frame, SyncRequestFrame)
        envelopes: list[str] = []
        size = 0
        for envelope in page.envelopes:
            if envelopes and size + len(envelope) > self.rules.page_budget:
                break
            envelopes.append(envelope)
            size += len(envelope) + 1
        body = encode_server_frame(
            MessageType.SYNC_RESPONSE,
            {
                "workspaceId": frame.data.workspace_id,
                "events": [],
                "latestSeq": page.latest_seq,
                "hasMore": page.has_more or len(envelopes) < len(page.envelopes),
            },
            reply_to=frame.id,
        )
        # The stored envelopes are JSON already: spliced in rather than decoded and re-encoded.
        body = body.replace('"events":[]', '"events":[' + ",".join(envelopes) + "]", 1)
        return self._settled([Send(MessageType.SYNC_RESPONSE, body, wait_for_room=True)])

    def page_gone(self, now: float) -> list[Action]:
        """The page asked for is older than the log keeps."""
        self._now = now
        frame = self._take_waiting().frame
        assert isinstance(frame, SyncRequestFrame)
        return self._settled([SendReset(frame.data.workspace_id, frame.id)])

    def page_missing(self, now: float) -> list[Action]:
        """The workspace is gone."""
        self._now = now
        frame = self._take_waiting().frame
        assert isinstance(frame, SyncRequestFrame)
        return self._settled(self._refuse(_not_joined(frame.id)))

    def failed(self) -> list[Action]:
        """Carrying out an action raised: the frame it was for is answered INTERNAL."""
        waiting, self._waiting = self._waiting, None
        frame = waiting.frame if waiting is not None else None
        reply_to = frame.id if frame is not None and not isinstance(frame, ProtocolError) else None
        return [Send(MessageType.ERROR, encode_error(InternalError("internal error", reply_to=reply_to)))]

    def timer_due(self, now: float) -> list[Action]:
        """The last `WakeAt` came due: whatever deadline has passed at `now` is acted on."""
        self._now = now
        self._armed = None  # that wake-up is spent: the next one is always asked for afresh
        if self.phase is Phase.CLOSED:
            return []
        if self.auth_deadline is not None and now >= self.auth_deadline:
            return self._settled(self._close(CloseCode.AUTH_TIMEOUT, "authentication timeout"))
        if self.token_deadline is not None and now >= self.token_deadline:
            expired = TokenExpired("the token expired; reconnect with a fresh one")
            return self._settled(
                [
                    Send(MessageType.ERROR, encode_error(expired)),
                    *self._close(CloseCode.UNAUTHORIZED, "token expired"),
                ]
            )
        actions: list[Action] = []
        for key, deadline in list(self.typing_deadlines.items()):
            if now >= deadline:
                del self.typing_deadlines[key]
                actions.append(self._typing_frame(key, is_typing=False))
        pending = self._cursors.take_due(now)
        if pending is not None and self.rooms.joined(pending[0]):
            actions.append(Publish(pending[0], MessageType.CURSOR_POSITION, pending[1]))
        return self._settled(actions)

    def closed(self) -> list[Action]:
        """The socket is gone: the typing it started stops for the others; nothing more wakes."""
        self.phase = Phase.CLOSED
        stops: list[Action] = [self._typing_frame(key, is_typing=False) for key in self.typing_deadlines]
        self.typing_deadlines.clear()
        self.auth_deadline = self.token_deadline = None
        self._waiting = None
        return stops

    def next_wake(self) -> float | None:
        """The earliest deadline: authentication, token expiry, a typing indicator, a held cursor."""
        if self.phase is Phase.CLOSED:
            return None
        deadlines = [
            d for d in (self.auth_deadline, self.token_deadline, self._cursors.due_at()) if d is not None
        ]
        deadlines.extend(self.typing_deadlines.values())
        return min(deadlines, default=None)

    # --- frames -------------------------------------------------------------------------------

    def _admitted(self, item: ClientFrame | ProtocolError) -> list[Action]:
        self._abuse.accepted()
        if isinstance(item, ProtocolError):
            return [Send(MessageType.ERROR, encode_error(item))]
        self.counters.message_in(item.type)
        if item.type not in ALLOWED_TYPES[self.phase]:
            return self._refuse(
                NotAuthenticated(f"authenticate before sending {item.type}", reply_to=item.id)
            )
        return _HANDLERS[item.type](self, item)

    def _rate_rejected(self) -> list[Action]:
        self.counters.frame_rate_limited()
        if self._abuse.rejected():
            error = RateLimited("rate limit exceeded repeatedly; closing")
            return [
                Send(MessageType.ERROR, encode_error(error)),
                *self._close(CloseCode.POLICY_VIOLATION, "rate limit abuse"),
            ]
        return [Send(MessageType.ERROR, encode_error(RateLimited("slow down: message rate limit exceeded")))]

    def _authenticate(self, frame: AuthenticateFrame) -> list[Action]:
        self._waiting = _Waiting(frame)
        return [Authenticate(frame.data.token)]

    def _join(self, frame: AuthenticateFrame, credential: Credential) -> list[Action]:
        self.token_deadline = self._now + max(0.0, credential.expires_in)
        requested = frame.data.workspace_ids
        candidates = credential.memberships or set()
        if requested is None:
            wanted = tuple(sorted(candidates))
        else:
            wanted = tuple(w for w in dict.fromkeys(requested) if w in candidates)
        self._waiting = _Waiting(frame, credential)
        return [Join(wanted, dict(frame.data.resume or {}), credential.checked_at)]

    def _ping(self, frame: PingFrame) -> list[Action]:
        pong = encode_server_frame(MessageType.PONG, {"serverTime": iso_now()}, reply_to=frame.id)
        return [Send(MessageType.PONG, pong)]

    def _sync(self, frame: SyncRequestFrame) -> list[Action]:
        data = frame.data
        if not self.rooms.joined(data.workspace_id):
            return self._refuse(_not_joined(frame.id))
        self._waiting = _Waiting(frame)
        return [ReadPage(data.workspace_id, data.since_seq, data.limit)]

    def _presence(self, frame: UserPresenceFrame) -> list[Action]:
        data = frame.data
        refused = self._feature(self.rules.presence, "presence", frame.id) or self._in_room(
            data.workspace_id, frame.id
        )
        if refused:
            return refused
        return [TrackPresence(data.workspace_id, data.status)]

    def _typing(self, frame: UserTypingFrame) -> list[Action]:
        data = frame.data
        refused = self._feature(self.rules.typing, "typing indicators", frame.id) or self._in_room(
            data.workspace_id, frame.id
        )
        if refused:
            return refused
        key = (data.workspace_id, data.task_id)
        # A start names a task of the workspace. So does a stop of typing this connection never
        # started (another connection of the user may have started it); a stop of what it did
        # start is always relayed, even if the task is gone meanwhile.
        if (data.is_typing or key not in self.typing_deadlines) and not self._knows_task(key):
            self._waiting = _Waiting(frame)
            return [CheckTask(*key)]
        return self._typing_checked(frame)

    def _typing_checked(self, frame: UserTypingFrame) -> list[Action]:
        data = frame.data
        key = (data.workspace_id, data.task_id)
        self.typing_deadlines.pop(key, None)
        if data.is_typing:
            self.typing_deadlines[key] = self._now + TYPING_TTL
        return [self._typing_frame(key, data.is_typing)]

    def _cursor(self, frame: CursorPositionFrame) -> list[Action]:
        data = frame.data
        refused = self._feature(self.rules.cursors, "cursors", frame.id) or self._in_room(
            data.workspace_id, frame.id
        )
        if refused:
            return refused
        if data.task_id is not None and not self._knows_task((data.workspace_id, data.task_id)):
            self._waiting = _Waiting(frame)
            return [CheckTask(data.workspace_id, data.task_id)]
        return self._cursor_checked(frame)

    def _cursor_checked(self, frame: CursorPositionFrame) -> list[Action]:
        data = frame.data
        assert self.user_id is not None
        text = encode_server_frame(
            MessageType.CURSOR_POSITION,
            {
                "workspaceId": data.workspace_id,
                "taskId": data.task_id,
                "userId": self.user_id,
                "position": data.position,
            },
        )
        ready = self._cursors.offer(self._now, (data.workspace_id, text))
        if ready is None:
            return []  # held: the next wake-up (`_cursors.due_at`) sends the newest one
        return [Publish(ready[0], MessageType.CURSOR_POSITION, ready[1])]

    # --- helpers ------------------------------------------------------------------------------

    def _typing_frame(self, key: TaskKey, is_typing: bool) -> Publish:
        assert self.user_id is not None
        text = encode_server_frame(
            MessageType.USER_TYPING,
            {"workspaceId": key[0], "taskId": key[1], "userId": self.user_id, "isTyping": is_typing},
        )
        return Publish(key[0], MessageType.USER_TYPING, text)

    def _knows_task(self, key: TaskKey) -> bool:
        known = self.known_tasks
        return known is not None and known.get(key, 0.0) > self._now

    def _remember_task(self, key: TaskKey) -> None:
        if self.known_tasks is None or len(self.known_tasks) >= KNOWN_TASKS_PER_CONNECTION:
            self.known_tasks = {}
        self.known_tasks[key] = self._now + KNOWN_TASK_SECONDS

    def _in_room(self, workspace_id: str, reply_to: str | None) -> list[Action]:
        return [] if self.rooms.joined(workspace_id) else self._refuse(_not_joined(reply_to))

    def _feature(self, enabled: bool, name: str, reply_to: str | None) -> list[Action]:
        if enabled:
            return []
        return self._refuse(FeatureDisabled(f"{name} are switched off on this server", reply_to=reply_to))

    def _refuse(self, error: ProtocolError) -> list[Action]:
        actions: list[Action] = [Send(MessageType.ERROR, encode_error(error))]
        if error.close_code is not None:
            actions.extend(self._close(error.close_code, error.message))
        return actions

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        self.phase = Phase.CLOSED
        return [Close(code, reason)]

    def _take_waiting(self) -> _Waiting:
        waiting, self._waiting = self._waiting, None
        if waiting is None:
            raise RuntimeError("an answer came for a question the conversation did not ask")
        return waiting

    def _settled(self, actions: list[Action]) -> list[Action]:
        """`actions`, followed by a `WakeAt` when the earliest deadline moved."""
        when = self.next_wake()
        if when != self._armed:
            self._armed = when
            actions.append(WakeAt(when))
        return actions


def _not_joined(reply_to: str | None) -> Forbidden:
    return Forbidden("this connection has not joined that workspace", reply_to=reply_to)


_Handler: TypeAlias = Callable[[Conversation, Any], list[Action]]

#: What each client frame type does once admitted in its phase.
_HANDLERS: dict[str, _Handler] = {
    MessageType.AUTHENTICATE: Conversation._authenticate,
    MessageType.PING: Conversation._ping,
    MessageType.SYNC_REQUEST: Conversation._sync,
    MessageType.USER_PRESENCE: Conversation._presence,
    MessageType.USER_TYPING: Conversation._typing,
    MessageType.CURSOR_POSITION: Conversation._cursor,
}
