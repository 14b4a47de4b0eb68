"""One client's conversation carried out: the pump between a socket and its rules.

The rules live in `conversation.py`, without I/O; this module feeds them what happens (frames,
the one timer, the answers to their questions) and carries out the actions they return.

The socket hands frames over as they arrive (`on_text`, `on_binary`, `on_disconnect`); they are
handled one at a time, in order, with the timer's wake-ups among them, by a task that exists
only while something is waiting, so an idle connection costs no task. A client that sends faster
than its frames are handled has its socket read paused (TCP slows it) rather than its frames
queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

from ..edge.authenticator import Authenticator
from ..edge.identity import Identity, Refusal, RefusalReason
from ..edge.origins import OriginPolicy
from ..errors import Gone, NotFound
from ..metrics import NodeMetrics
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from .connection import Connection, Flusher, ReadableLink
from .conversation import (
    Action,
    AdmitUser,
    Authenticate,
    CheckRate,
    CheckTask,
    Close,
    Conversation,
    Credential,
    Join,
    Publish,
    ReadPage,
    Rules,
    Send,
    SendReset,
    TrackPresence,
    WakeAt,
)
from .pending import PendingSockets
from .port import SessionPort
from .protocol import CloseCode

logger = logging.getLogger(__name__)

# Frames a session may have waiting before the socket stops being read: a client that sends
# faster than its frames are handled is slowed by TCP, not by memory.
MAX_WAITING_FRAMES = 32
_TIMER = object()  # stands in the inbox for the timer's wake-up


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
        self.rules = Rules.from_settings(settings)
        self._origins = OriginPolicy.from_settings(settings)
        self.pending = PendingSockets(settings.ws_max_pending_per_address)

    def origin_allowed(self, origin: str | None) -> bool:
        return self._origins.allows(origin)

    def admit_pending(self, address: str) -> bool:
        return self.pending.try_admit(address)

    def open(self, link: ReadableLink, address: str) -> ClientSession:
        """A session for a socket already counted as pending from `address` (`admit_pending`)."""
        session = ClientSession(self, link)
        session.pending_release = functools.partial(self.pending.release, address)
        session.start()
        return session


class ClientSession:
    def __init__(self, factory: SessionFactory, link: ReadableLink) -> None:
        self.hub = factory.hub
        self.metrics = factory.metrics
        self.authenticator = factory.authenticator
        self.feeds = factory.feeds
        self.link = link
        self.connection = Connection(
            link,
            uuid.uuid4().hex,
            factory.settings.ws_max_buffered_bytes,
            factory.flusher,
            on_slow_consumer=factory.metrics.connection_dropped,
        )
        self.core = Conversation(factory.rules, factory.metrics, self)
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._verified: Identity | None = None  # the last credential verified, until it joins
        self._inbox: deque[bytes | object | None] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._registered = False
        self._disconnected = False
        # Set by the factory: stops counting this socket as unauthenticated against its address.
        self.pending_release: Callable[[], None] | None = None

    # --- the socket's side ----------------------------------------------------------------------

    def start(self) -> None:
        """The socket is upgraded: greet it (or turn it away when the node is full)."""
        if not self.hub.open(self.connection):
            self.metrics.connection_opened()
            self.connection.close(CloseCode.TRY_AGAIN_LATER, "node at its connection limit")
            return
        self._registered = True
        for action in self.core.opened(self.connection.id, self._loop.time()):
            self._now(action)

    def on_text(self, data: bytes) -> None:
        self._receive(data)

    def on_binary(self, data: bytes) -> None:
        self._receive(None)

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

    def joined(self, workspace_id: str) -> bool:
        """For the conversation (`Rooms`): whether this connection is in the workspace's room now."""
        return self.hub.joined(self.connection, workspace_id)

    def _receive(self, item: bytes | object | None) -> None:
        if self.connection.closing or not self._registered:
            return
        self._inbox.append(item)
        if len(self._inbox) >= MAX_WAITING_FRAMES:
            self.link.pause_reading()
        if self._worker is None:
            self._worker = self._loop.create_task(self._work(), name=f"ws-{self.connection.id}")

    async def _work(self) -> None:
        try:
            while self._inbox:
                item = self._inbox.popleft()
                if len(self._inbox) < MAX_WAITING_FRAMES // 2:
                    self.link.resume_reading()
                if self.connection.closing:
                    continue
                now = self._loop.time()
                if item is _TIMER:
                    actions = self.core.timer_due(now)
                else:
                    actions = self.core.receive(item if isinstance(item, bytes) else None, now)
                try:
                    await self._carry_out(actions)
                except Exception:
                    logger.exception("failed to handle a frame on %s", self.connection.id)
                    for action in self.core.failed():
                        self._now(action)
        finally:
            self._worker = None
            if self._disconnected:
                await self._cleanup()

    async def _cleanup(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for action in self.core.closed():
            with contextlib.suppress(Exception):
                await self._carry_out([action])
        await self.hub.unregister(self.connection)

    def _no_longer_pending(self) -> None:
        release, self.pending_release = self.pending_release, None
        if release is not None:
            release()

    # --- carrying out -----------------------------------------------------------------------------

    def _now(self, action: Action) -> None:
        """An action that needs no await (sending, closing, setting the timer)."""
        if isinstance(action, Send):
            self.connection.send_text(action.text)
            self.metrics.message_out(action.message_type)
        elif isinstance(action, Close):
            self.connection.close(action.code, action.reason)
        elif isinstance(action, WakeAt):
            if self._timer is not None:
                self._timer.cancel()
            when = action.when
            self._timer = None if when is None else self._loop.call_at(when, self._receive, _TIMER)
        else:
            raise TypeError(f"{type(action).__name__} must be awaited")

    async def _carry_out(self, actions: list[Action]) -> None:
        """Carry out `actions` in order; an answered question's actions go before the rest."""
        queue = deque(actions)
        core, hub = self.core, self.hub
        while queue:
            action = queue.popleft()
            follow: list[Action] = []
            if isinstance(action, Send) and action.wait_for_room:
                await self.connection.wait_for_room(len(action.text))
                self._now(action)
            elif isinstance(action, Send | Close | WakeAt):
                self._now(action)
            elif isinstance(action, CheckRate):
                assert core.user_id is not None
                allowed = await hub.admit_frame(core.user_id, action.cost)
                follow = core.rate_checked(allowed, self._loop.time())
            elif isinstance(action, Publish):
                await hub.publish_ephemeral(
                    action.workspace_id, action.message_type, action.text, self.connection.id
                )
            elif isinstance(action, Authenticate):
                follow = core.credential_checked(await self._verify(action.token), self._loop.time())
            elif isinstance(action, AdmitUser):
                admitted = await hub.admit_user(self.connection, action.user_id)
                if admitted:
                    self._no_longer_pending()
                follow = core.user_admitted(admitted, self._loop.time())
            elif isinstance(action, Join):
                if self._verified is not None:  # closed 4401 when its session ends (revocations.py)
                    hub.identified(self.connection, self._verified)
                result = await hub.join(
                    self.connection, action.workspace_ids, action.resume, checked_at=action.checked_at
                )
                # Nothing awaited since the joins: the reply's seqs are exactly where each joined.
                for reply in core.joined(result.joined, self._loop.time()):
                    self._now(reply)
                await result.finish()
            elif isinstance(action, CheckTask):
                exists = await self.feeds.has_task(action.workspace_id, action.task_id)
                follow = core.task_checked(exists, self._loop.time())
            elif isinstance(action, ReadPage):
                follow = await self._read_page(action)
            elif isinstance(action, SendReset):
                await hub.send_reset(self.connection, action.workspace_id, action.reply_to)
            elif isinstance(action, TrackPresence):
                await hub.track_presence(self.connection, action.workspace_id, action.status)
            queue.extendleft(reversed(follow))

    async def _verify(self, token: str) -> Credential | Refusal:
        try:
            identity = await self.authenticator.verify_session(token)
        except Refusal as refusal:
            return refusal
        self._verified = identity
        checked_at = self.hub.membership_mark()
        memberships = await self.feeds.memberships(identity.user_id)
        if memberships is None:  # a correctly signed token of a deleted user opens nothing
            gone = Refusal(RefusalReason.ACCOUNT_GONE, "the account no longer exists")
            self.authenticator.refused(gone)
            return gone
        expires_in = identity.expires_at - time.time()  # the credential's clock is the wall clock
        return Credential(identity.user_id, identity.expires_at, expires_in, memberships, checked_at)

    async def _read_page(self, action: ReadPage) -> list[Action]:
        try:
            page = await self.feeds.read_page(action.workspace_id, action.since_seq, action.limit)
        except Gone:
            return self.core.page_gone(self._loop.time())
        except NotFound:
            return self.core.page_missing(self._loop.time())
        return self.core.page_read(page, self._loop.time())
