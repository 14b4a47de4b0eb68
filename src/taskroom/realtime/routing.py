"""Routing: one path from a message (the broker's, this node's own, or the log's) to the sockets.

Everything a node receives comes in through the `codec.BrokerEventHandler` methods: a logged
event goes to its room's sequencer and out in seq order (`deliver`), an ephemeral frame to the
room's live connections, a user notice to that user's connections. What a delivery does to
membership (a connection that joined or left with an event, a user asked to join a room) is
handed to the `MembershipEffects` the joins implement: routing itself never waits.

Delivery guarantee: each member of a room receives the room's logged events once, in seq order.
The rules of who receives what are the room's (`room.py`); repairing what the broker lost is the
log safety net (`safety_net.py`), which delivers through this same path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..events import LogEvent
from ..metrics import NodeMetrics
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from .broker import Broker
from .codec import BrokerEventHandler, Ephemeral, JoinFrom, Revoked, UserNotice, dispatch, origin_of
from .connection import Connection
from .frames import text_frame
from .registry import ConnectionRegistry
from .revocations import RevocationIndex
from .room import Effects, Room
from .safety_net import LogSafetyNet

logger = logging.getLogger(__name__)


class MembershipEffects(Protocol):
    """What follows a delivery's effect on membership; each call only schedules the work."""

    def welcome_later(self, connection: Connection, room: Room) -> None:
        """The connection joined the room with an event (a re-addition): welcome it."""
        ...

    def tidy_later(self, connection: Connection, room: Room) -> None:
        """The connection was taken out of the room by an event: its presence, maybe the room."""
        ...

    def join_later(self, connection: Connection, join: JoinFrom) -> None:
        """The connection's user was added to a workspace (or created one): join its room."""
        ...


class Subscription:
    """One watcher of one workspace's logged events (`Router.subscribe`)."""

    __slots__ = ("on_event", "workspace_id")

    def __init__(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> None:
        self.workspace_id = workspace_id
        self.on_event = on_event


class Router(BrokerEventHandler):
    """This node's rooms and the one delivery path into them."""

    def __init__(
        self,
        settings: Settings,
        feeds: WorkspaceFeeds,
        registry: ConnectionRegistry,
        metrics: NodeMetrics,
        revocations: RevocationIndex | None = None,
    ) -> None:
        self.node_id = settings.node_id
        self.rooms: dict[str, Room] = {}
        self.registry = registry
        # Every admitted socket of this node, both endpoints, by the credential it was admitted with.
        self.revocations = revocations if revocations is not None else RevocationIndex()
        self.metrics = metrics
        self.safety_net = LogSafetyNet(settings, feeds, self.rooms, self)
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._membership: MembershipEffects | None = None

    def handle_membership_with(self, membership: MembershipEffects) -> None:
        """Who carries out the effects on membership (the joins; they need this router first)."""
        self._membership = membership

    # --- the rooms ------------------------------------------------------------------------------

    def add(self, room: Room) -> None:
        self.rooms[room.workspace_id] = room
        self.metrics.set_rooms(len(self.rooms))

    def remove(self, room: Room) -> bool:
        """Drop the room if it is still the workspace's; True when it was."""
        if self.rooms.get(room.workspace_id) is not room:
            return False
        del self.rooms[room.workspace_id]
        self.metrics.set_rooms(len(self.rooms))
        self.safety_net.forget(room)
        return True

    def joined(self, connection: Connection, workspace_id: str) -> bool:
        """Whether the connection is a member of the workspace's room now."""
        room = self.rooms.get(workspace_id)
        return room is not None and room.is_member(connection)

    def subscribe(self, workspace_id: str, on_event: Callable[[LogEvent], None]) -> Subscription:
        subscription = Subscription(workspace_id, on_event)
        self._subscriptions.setdefault(workspace_id, []).append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.workspace_id)
        if subscriptions is not None and subscription in subscriptions:
            subscriptions.remove(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.workspace_id]

    # --- receiving ------------------------------------------------------------------------------

    async def consume(self, broker: Broker) -> None:
        """Route what the broker hands over, but this node's own (delivered when published)."""
        node_id = self.node_id
        async for channel, payload in broker.messages():
            try:
                origin, header, frame = origin_of(payload)
                if origin != node_id:
                    dispatch(header, frame, self)
            except Exception:  # one bad message must not stop delivery
                logger.exception("could not dispatch a message on %s", channel)

    def on_event(self, event: LogEvent, published_at: float) -> None:
        room = self.rooms.get(event.workspace_id)
        if room is None:
            return
        self.deliver(room, room.sequencer.offer(event.seq, event))
        self.safety_net.watch(room)
        if published_at:
            self.metrics.fanout(max(0.0, time.time() - published_at))

    def on_ephemeral(self, message: Ephemeral) -> None:
        room = self.rooms.get(message.workspace_id)
        if room is not None:
            sent = room.broadcast(text_frame(message.frame), skip=message.origin_connection_id)
            self.metrics.message_out(message.type, sent)

    def on_user_notice(self, notice: UserNotice) -> None:
        connections = self.registry.connections_of(notice.user_id)
        if notice.frame is not None:
            frame = text_frame(notice.frame)
            for connection in connections:
                connection.send(frame)
            if notice.frame_type is not None:
                self.metrics.message_out(notice.frame_type, len(connections))
        if notice.join is not None and self._membership is not None:
            for connection in connections:
                self._membership.join_later(connection, notice.join)

    def on_revoked(self, revoked: Revoked) -> None:
        self.revocations.revoke(revoked)

    # --- delivering -----------------------------------------------------------------------------

    def deliver(self, room: Room, ready: list[tuple[int, LogEvent]]) -> None:
        """Events the room's sequencer released, in seq order: to its connections and watchers."""
        for seq, event in ready:
            effects = room.deliver(seq, event)
            for subscription in self._subscriptions.get(room.workspace_id, ()):
                subscription.on_event(event)
            self.metrics.message_out(event.type, len(room.live))
            if effects:
                self._carry_out(room, effects)

    def _carry_out(self, room: Room, effects: Effects) -> None:
        membership = self._membership
        assert membership is not None
        for connection in effects.joined:
            membership.welcome_later(connection, room)
        for connection in effects.left:
            membership.tidy_later(connection, room)
