"""The hub routes: broker messages to rooms, rooms' effects to connections, joins into rooms.

Delivery guarantee: each member of a room receives the room's logged events once, in seq order.
Events reach the room through the broker (the fast path); the rules of who receives what are the
room's (`room.py`); catching up after a resume is `replay.py`; repairing what the broker lost is
the log safety net (`safety_net.py`); presence announcements are `announcer.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import Any

from ..metrics import NodeMetrics
from ..security.limit_store import LimitStore
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from ..wire import MessageType
from .announcer import PresenceAnnouncer
from .broker import Broker
from .codec import EPHEMERAL, USER, BrokerMessage, decode_message
from .connection import Connection, Flusher
from .frames import text_frame
from .port import JoinResult
from .presence import Presence
from .publishing import BrokerPublisher, room_channel, user_channel
from .registry import ConnectionRegistry
from .replay import Replayer
from .room import Effects, Room, RoomEvent, Step
from .safety_net import LogSafetyNet

logger = logging.getLogger(__name__)


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
        self.settings = settings
        self.limits = limits  # per-user limits: this node's memory, or Redis for the whole service
        self.feeds = feeds
        self.broker = broker
        self.metrics = metrics
        self.flusher = Flusher()
        self.registry = ConnectionRegistry(settings, metrics)
        self.rooms: dict[str, Room] = {}
        self._starting: dict[str, asyncio.Future[None]] = {}  # rooms being positioned in the log
        self.epoch = 0  # rooms positioned in the log so far: a later epoch was positioned after that moment
        self.node_id = settings.node_id
        self.publisher = BrokerPublisher(broker, self.node_id, self._dispatch)
        self.announcer = PresenceAnnouncer(settings, presence, self.publisher, metrics, self.joined)
        self.replayer = Replayer(feeds, metrics)
        self.safety_net = LogSafetyNet(settings, feeds, self.rooms, self._deliver)
        # Called with each logged event a room delivers, in seq order (the documents watch
        # membership and deletions through this).
        self.event_listeners: list[Callable[[str, RoomEvent], None]] = []
        self._watches: dict[str, list[_Watch]] = {}  # by workspace: `watch` handles open
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()  # strong references until done

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start()
        self._tasks = [
            asyncio.create_task(self._consume(), name="hub-consume"),
            asyncio.create_task(self.safety_net.run(), name="hub-log-poll"),
        ]

    async def stop(self) -> None:
        await self.close_all()
        tasks = [*self._tasks, *self._background, *self.safety_net.tasks()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.broker.close()

    async def close_all(self, grace: float = 5.0) -> None:
        """Close every connection with 1001 (going away) and wait, up to `grace` seconds, for them to go."""
        await self.registry.close_all(grace)

    async def broker_healthy(self) -> bool:
        return await self.broker.healthy()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # --- connections ----------------------------------------------------------------------------

    def joined(self, connection: Connection, workspace_id: str) -> bool:
        """Whether the connection is a member of the workspace's room now."""
        room = self.rooms.get(workspace_id)
        return room is not None and room.is_member(connection)

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
        limit = self.settings.ws_max_connections_per_user
        if not await self.limits.open_slot(_connections_key(user_id), connection.id, limit):
            return False
        await self.bind_user(connection, user_id)
        return True

    def membership_mark(self) -> int:
        """The count of rooms positioned in the log so far (see `join`'s `checked_at`)."""
        return self.epoch

    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin_connection_id: str
    ) -> None:
        await self.publisher.publish_ephemeral(workspace_id, message_type, frame, origin_connection_id)

    async def track_presence(self, connection: Connection, workspace_id: str, status: str) -> None:
        await self.announcer.track(connection, workspace_id, status)

    async def send_reset(self, connection: Connection, workspace_id: str, reply_to: str | None) -> None:
        await self.replayer.send_reset(connection, workspace_id, reply_to)

    async def admit_frame(self, user_id: str, cost: float) -> bool:
        """Take `cost` from the user's WS_RATE_LIMIT bucket, shared by all their connections."""
        settings = self.settings
        return await self.limits.take_tokens(
            f"ws-rate:{user_id}", settings.ws_rate_limit, settings.ws_rate_limit_burst, cost
        )

    async def bind_user(self, connection: Connection, user_id: str) -> None:
        if self.registry.bind_user(connection, user_id):
            await self.broker.subscribe(user_channel(user_id))

    async def unregister(self, connection: Connection) -> None:
        # Out of its user's connections first, so that no membership event (WORKSPACE_CREATED,
        # WORKSPACE_MEMBER_ADDED) can join it to a room while it is leaving the others.
        last = self.registry.unbind_user(connection)
        while connection.rooms:
            for workspace_id in list(connection.rooms):
                await self.leave(connection, workspace_id)
        self.announcer.forget(connection)
        if connection.user_id is not None:
            await self.limits.close_slot(_connections_key(connection.user_id), connection.id)
        self.registry.remove(connection)
        if last and connection.user_id is not None:
            await self.broker.unsubscribe(user_channel(connection.user_id))

    async def leave(self, connection: Connection, workspace_id: str) -> None:
        room = self.rooms.get(workspace_id)
        if room is None:
            connection.rooms.discard(workspace_id)
            return
        room.leave(connection)
        await self._after_leave(connection, room)

    async def _after_leave(self, connection: Connection, room: Room) -> None:
        """What follows a connection's removal from a room: its presence, and the room if empty."""
        if not room.is_member(connection):
            await self.announcer.left(connection, room.workspace_id)
        await self._drop_room_if_empty(room)

    # --- rooms ----------------------------------------------------------------------------------

    async def reserve_room(self, workspace_id: str) -> Room:
        """The room, reserved (never dropped until released).

        A new room is subscribed to the broker before its position is read from the log, so
        nothing published in between is missed."""
        room = self.rooms.get(workspace_id)
        if room is not None:
            room.reserved += 1
            starting = self._starting.get(workspace_id)
            if starting is not None:
                try:
                    await asyncio.shield(starting)
                except BaseException:
                    room.reserved -= 1
                    raise
            return room
        room = Room(workspace_id, self.registry.connections_of)
        room.reserved += 1
        self.rooms[workspace_id] = room
        self.metrics.set_rooms(len(self.rooms))
        starting = self._starting[workspace_id] = asyncio.get_running_loop().create_future()
        try:
            await self.broker.subscribe(room_channel(workspace_id))
            latest = await self.feeds.latest_seq(workspace_id)
            self.epoch += 1
            room.epoch = self.epoch
            self._deliver(room, room.sequencer.start(latest or 0))
            starting.set_result(None)
        except BaseException as exc:
            # A room that failed to start must not stay behind: the next join tries afresh.
            starting.set_exception(exc)
            starting.exception()  # retrieved: waiters get it through their own await
            if self.rooms.get(workspace_id) is room:
                del self.rooms[workspace_id]
                self.metrics.set_rooms(len(self.rooms))
                await self.broker.unsubscribe(room_channel(workspace_id))
            raise
        finally:
            del self._starting[workspace_id]
        return room

    async def release(self, room: Room) -> None:
        room.reserved -= 1
        await self._drop_room_if_empty(room)

    async def _drop_room_if_empty(self, room: Room) -> None:
        if room.empty and self.rooms.get(room.workspace_id) is room:
            del self.rooms[room.workspace_id]
            self.metrics.set_rooms(len(self.rooms))
            self.safety_net.forget(room)
            await self.broker.unsubscribe(room_channel(room.workspace_id))
            if room.workspace_id in self.rooms:
                # A new room for the workspace subscribed while this unsubscribe was in flight (a
                # broker whose calls really wait): subscribe again; the log covers the moment between.
                await self.broker.subscribe(room_channel(room.workspace_id))

    # --- the one join path ----------------------------------------------------------------------

    async def join(
        self,
        connection: Connection,
        workspace_ids: Collection[str],
        resume: Mapping[str, int],
        *,
        checked_at: int | None = None,
    ) -> JoinResult:
        """Join a connection to the workspaces it belongs to among `workspace_ids`.

        Used by authentication (the workspaces it asked for, with its resume points) and by live
        membership (a workspace it was just added to or created, with the log from that point).
        A workspace in `resume` is caught up from that seq; the others are joined live.

        `checked_at` is the hub's `epoch` read just before the caller read the user's memberships
        (None: the caller did not). They are read again here when a room started after that: a
        removal committed before this read is seen here, one committed after it reaches the room
        in order (and the room then refuses the join, or removes the connection). A room that
        started before the caller's read delivers every later removal itself.

        The result is returned with nothing awaited since the joins: its `joined` is what the
        caller reports, and the caller then awaits its `finish()` (see `port.JoinResult`).
        """
        user_id = connection.user_id
        assert user_id is not None
        reserved: list[Room] = []
        try:
            for workspace_id in workspace_ids:
                if workspace_id not in connection.rooms:
                    reserved.append(await self.reserve_room(workspace_id))
            stale = checked_at is None or any(room.epoch > checked_at for room in reserved)
            members_of: Collection[str] = (
                (await self.feeds.memberships(user_id) or set()) if stale else workspace_ids
            )
        except BaseException:
            for room in reserved:  # reserved rooms must not stay pinned
                await self.release(room)
            raise
        catch_ups: list[tuple[Room, int, int]] = []
        admitted: list[Room] = []
        if not self.registry.gone(connection):
            for room in reserved:
                since = resume.get(room.workspace_id)
                target = room.join(connection, since) if room.workspace_id in members_of else None
                if target is not None:
                    admitted.append(room)
                    if since is not None:
                        catch_ups.append((room, since, target))
        joined = {w: self.rooms[w].seq for w in workspace_ids if self.joined(connection, w)}

        async def finish() -> None:
            for room in reserved:
                await self.release(room)
            for room, since, target in catch_ups:
                step = await self.replayer.catch_up(connection, room, since, target)
                if step is Step.LEFT:
                    await self._after_leave(connection, room)
            for room in admitted:
                await self.welcome(connection, room.workspace_id)

        return JoinResult(joined, finish)

    async def welcome(self, connection: Connection, workspace_id: str) -> None:
        if not await self.announcer.welcome(connection, workspace_id):
            await self.leave(connection, workspace_id)  # left while being tracked: leave no ghost

    # --- receiving ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        async for channel, payload in self.broker.messages():
            try:
                message = decode_message(payload)
                if message.origin_node_id != self.node_id:  # this node's own were delivered at once
                    self._dispatch(message)
            except Exception:  # one bad message must not stop delivery
                logger.exception("could not dispatch a message on %s", channel)

    def _dispatch(self, message: BrokerMessage) -> None:
        if message.kind == USER:
            self._deliver_to_user(message)
            return
        room = self.rooms.get(message.workspace_id or "")
        if room is None:
            return
        if message.kind == EPHEMERAL:
            sent = room.broadcast(text_frame(message.frame), skip=message.origin_connection_id)
            self.metrics.message_out(message.type, sent)
            return
        assert message.seq is not None
        event = RoomEvent(
            MessageType(message.type),
            text_frame(message.frame),
            message.subject_user_id,
            message.published_at,
        )
        self._deliver(room, room.sequencer.offer(message.seq, event))
        self.safety_net.watch(room)

    def _deliver(self, room: Room, ready: list[tuple[int, RoomEvent]]) -> None:
        for seq, event in ready:
            effects = room.deliver(seq, event)
            for listener in self.event_listeners:
                listener(room.workspace_id, event)
            for handle in self._watches.get(room.workspace_id, ()):
                handle.on_event(event)
            self.metrics.message_out(event.type, len(room.live))
            if event.published_at:
                self.metrics.fanout(max(0.0, time.time() - event.published_at))
            if effects:
                self._carry_out(room, effects)

    def _carry_out(self, room: Room, effects: Effects) -> None:
        for connection in effects.joined:
            self.spawn(self.welcome(connection, room.workspace_id))
        for connection in effects.left:
            self.spawn(self._after_leave(connection, room))

    def _deliver_to_user(self, message: BrokerMessage) -> None:
        connections = self.registry.connections_of(message.subject_user_id or "")
        workspace_id = message.join_workspace_id
        if workspace_id is None:
            for connection in connections:
                connection.send(text_frame(message.frame))
            return
        if message.seq is not None:
            # WORKSPACE_MEMBER_ADDED: the room's own copy carries the frame; join from just before it.
            after = message.seq - 1
        else:
            # WORKSPACE_CREATED: the notice goes to the creator's connections, which join from the start.
            after = 0
            frame = text_frame(message.frame)
            for connection in connections:
                connection.send(frame)
            self.metrics.message_out(MessageType.WORKSPACE_CREATED, len(connections))
        for connection in connections:
            if not self.registry.gone(connection) and workspace_id not in connection.rooms:
                self.spawn(self._join_from(connection, workspace_id, after))

    async def _join_from(self, connection: Connection, workspace_id: str, after: int) -> None:
        if not self.registry.gone(connection) and workspace_id not in connection.rooms:
            result = await self.join(connection, [workspace_id], {workspace_id: after})
            await result.finish()

    # --- watching workspaces --------------------------------------------------------------------

    async def watch(self, workspace_id: str, on_event: Callable[[RoomEvent], None]) -> _Watch:
        """See `port.WorkspaceWatchPort`: the room stays reserved until the handle is closed."""
        room = await self.reserve_room(workspace_id)
        handle = _Watch(self, room, on_event)
        self._watches.setdefault(workspace_id, []).append(handle)
        return handle

    async def _unwatch(self, handle: _Watch) -> None:
        handles = self._watches.get(handle.room.workspace_id)
        if handles is not None and handle in handles:
            handles.remove(handle)
            if not handles:
                del self._watches[handle.room.workspace_id]
        await self.release(handle.room)


class _Watch:
    """A `port.WatchHandle`: one watcher of one workspace's logged events."""

    __slots__ = ("_closed", "_hub", "on_event", "room")

    def __init__(self, hub: Hub, room: Room, on_event: Callable[[RoomEvent], None]) -> None:
        self._hub = hub
        self.room = room
        self.on_event = on_event
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._hub._unwatch(self)


def _connections_key(user_id: str) -> str:
    return f"ws-connections:{user_id}"


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background hub task failed", exc_info=task.exception())
