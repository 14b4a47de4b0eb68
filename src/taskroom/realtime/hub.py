"""The hub wires the real-time layer together and is its face to sessions and watchers.

It implements `port.SessionPort` and `port.WorkspaceWatchPort` by handing each call to the part
that owns it: routing (`routing.py`: broker, log and own messages → rooms → connections), joins
(`joins.py`: rooms reserved and released, the one join path), presence announcements
(`announcer.py`), catching up (`replay.py`) and the log safety net (`safety_net.py`). It owns
nothing else but the per-user limits a connection is admitted under.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import Any

from ..edge import audit
from ..edge.identity import Identity
from ..events import LogEvent
from ..metrics import NodeMetrics
from ..security.limit_store import LimitStore
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from ..wire import MessageType
from .announcer import PresenceAnnouncer
from .background import BackgroundTasks
from .broker import Broker
from .codec import Revoked
from .connection import Connection, Flusher
from .joins import Joins
from .port import JoinResult
from .presence import Presence
from .protocol import CloseCode, Unauthorized, encode_error
from .publishing import REVOCATIONS_CHANNEL, BrokerPublisher, user_channel
from .registry import ConnectionRegistry
from .replay import Replayer
from .revocations import RevocationIndex
from .room import Room
from .routing import Router, Subscription
from .safety_net import LogSafetyNet
from .transport import WS_PATH


class Hub:
    """Implements `port.SessionPort` for sessions and `port.WorkspaceWatchPort` for the documents."""

    def __init__(
        self,
        settings: Settings,
        feeds: WorkspaceFeeds,
        broker: Broker,
        presence: Presence,
        metrics: NodeMetrics,
        limits: LimitStore,
    ) -> None:
        self._settings = settings
        self._broker = broker
        # Kept until the documents use watch(): they read the per-user limits from here.
        self.limits = limits  # per-user limits: this node's memory, or Redis for the whole service
        self.node_id = settings.node_id
        self.flusher = Flusher()
        self._background = BackgroundTasks()
        self.registry = ConnectionRegistry(settings, metrics)
        # This node's admitted sockets (both endpoints) by the session or API key they came with.
        self.revocations = RevocationIndex()
        self._router = Router(settings, feeds, self.registry, metrics, self.revocations)
        # What the services publish through (`services.publisher.EventPublisher`).
        self.publisher = BrokerPublisher(broker, self.node_id, self._router)
        self.announcer = PresenceAnnouncer(settings, presence, self.publisher, metrics, self._router)
        self._replayer = Replayer(feeds, metrics)
        self._joins = Joins(
            self._router, broker, feeds, self.registry, self.announcer, self._replayer, self._background
        )
        self._router.handle_membership_with(self._joins)
        # What hears PostgreSQL's commit notices (`commit_listener.CommitNotices`).
        self.safety_net: LogSafetyNet = self._router.safety_net
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def rooms(self) -> Mapping[str, Room]:
        """This node's rooms by workspace (read only; the joins and the routing change them)."""
        return self._router.rooms

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._broker.start()
        await self._broker.subscribe(REVOCATIONS_CHANNEL)
        self._tasks = [
            asyncio.create_task(self._router.consume(self._broker), name="hub-consume"),
            asyncio.create_task(self.safety_net.run(), name="hub-log-poll"),
        ]

    async def stop(self) -> None:
        await self.close_all()
        await self._background.cancel_all(*self._tasks, *self.safety_net.tasks())
        await self._broker.close()

    async def close_all(self, grace: float = 5.0) -> None:
        """Close every connection with 1001 (going away) and wait, up to `grace` seconds, for them to go."""
        await self.registry.close_all(grace)

    async def broker_healthy(self) -> bool:
        return await self._broker.healthy()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._background.spawn(coroutine)

    # --- connections ----------------------------------------------------------------------------

    def open(self, connection: Connection) -> bool:
        """Count a newly upgraded connection; False when the node is at WS_MAX_CONNECTIONS."""
        if self.registry.at_capacity():
            return False
        self.registry.add(connection)
        return True

    async def admit_user(self, connection: Connection, user_id: str) -> bool:
        """Hold one of the user's WS_MAX_CONNECTIONS_PER_USER slots and bind the connection to
        the user; False when all are taken.

        Held until `unregister` (with Redis, counted over every node; a dead node's stop counting)."""
        limit = self._settings.ws_max_connections_per_user
        if not await self.limits.open_slot(_connections_key(user_id), connection.id, limit):
            return False
        if self.registry.bind_user(connection, user_id):
            await self._broker.subscribe(user_channel(user_id))
        return True

    def identified(self, connection: Connection, identity: Identity) -> None:
        """The connection authenticated with `identity`: closed 4401 when its session ends."""

        def close(reason: str) -> None:
            connection.send_text(encode_error(Unauthorized(f"authentication revoked: {reason}")))
            connection.close(CloseCode.UNAUTHORIZED, reason)

        self.revocations.track(connection, identity, close)

    async def revoke(self, revoked: Revoked) -> None:
        """Close the sockets of revoked credentials on this node and every other (never raises)."""
        await self.publisher.publish_revoked(revoked)

    async def admit_frame(self, user_id: str, cost: float) -> bool:
        """Take `cost` from the user's WS_RATE_LIMIT bucket, shared by all their connections."""
        settings = self._settings
        return await self.limits.take_tokens(
            f"ws-rate:{user_id}", settings.ws_rate_limit, settings.ws_rate_limit_burst, cost
        )

    async def unregister(self, connection: Connection) -> None:
        # Out of its user's connections first, so that no membership event (WORKSPACE_CREATED,
        # WORKSPACE_MEMBER_ADDED) can join it to a room while it is leaving the others.
        last = self.registry.unbind_user(connection)
        self.revocations.forget(connection)
        while connection.rooms:
            for workspace_id in list(connection.rooms):
                await self._joins.leave(connection, workspace_id)
        self.announcer.forget(connection)
        if connection.user_id is not None:
            await self.limits.close_slot(_connections_key(connection.user_id), connection.id)
        self.registry.remove(connection)
        code, reason, by = connection.close_status()
        audit.socket_closed(WS_PATH, connection.identity, connection.user_id, code, reason, by)
        if last and connection.user_id is not None:
            await self._broker.unsubscribe(user_channel(connection.user_id))

    # --- rooms ----------------------------------------------------------------------------------

    def joined(self, connection: Connection, workspace_id: str) -> bool:
        """Whether the connection is a member of the workspace's room now."""
        return self._router.joined(connection, workspace_id)

    def membership_mark(self) -> int:
        """The last room's start mark (see `joins.Joins.join`'s `checked_at`)."""
        return self._joins.start_mark()

    async def join(
        self,
        connection: Connection,
        workspace_ids: Collection[str],
        resume: Mapping[str, int],
        *,
        checked_at: int | None = None,
    ) -> JoinResult:
        """See `joins.Joins.join`."""
        return await self._joins.join(connection, workspace_ids, resume, checked_at=checked_at)

    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin_connection_id: str
    ) -> None:
        await self.publisher.publish_ephemeral(workspace_id, message_type, frame, origin_connection_id)

    async def track_presence(self, connection: Connection, workspace_id: str, status: str) -> None:
        await self.announcer.track(connection, workspace_id, status)

    async def send_reset(self, connection: Connection, workspace_id: str, reply_to: str | None) -> None:
        await self._replayer.send_reset(connection, workspace_id, reply_to)

    # --- watching workspaces --------------------------------------------------------------------

    async def watch(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> Watch:
        """See `port.WorkspaceWatchPort`: the room stays reserved until the handle is closed."""
        room = await self._joins.reserve_room(workspace_id)
        return Watch(self._router, self._joins, room, self._router.subscribe(workspace_id, on_event))


class Watch:
    """A `port.WatchHandle`: one watcher of one workspace's logged events."""

    __slots__ = ("_closed", "_joins", "_router", "_subscription", "room")

    def __init__(self, router: Router, joins: Joins, room: Room, subscription: Subscription) -> None:
        self._router = router
        self._joins = joins
        self.room = room
        self._subscription = subscription
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._router.unsubscribe(self._subscription)
            await self._joins.release(self.room)


def _connections_key(user_id: str) -> str:
    return f"ws-connections:{user_id}"
