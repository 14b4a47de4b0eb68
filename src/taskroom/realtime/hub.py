"""The hub: this node's rooms and connections, fed by the broker, ordered and gap-filled from the log.

Delivery guarantee: each live connection of a room receives the room's logged events once, in
seq order. Events reach the room through the broker (the fast path); an event that arrives
early waits for the missing seqs, which are read from the log after WS_GAP_FILL_DELAY, and a
periodic check against the log (WS_LOG_POLL_INTERVAL) delivers events that were committed but
never published — a node that died between commit and publish loses no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from ..errors import Gone
from ..metrics import NodeMetrics
from ..services.feeds import WorkspaceFeeds
from ..services.publisher import CommittedEvent
from ..settings import Settings
from ..timeutil import format_timestamp, utcnow
from .broker import Broker
from .codec import EPHEMERAL, EVENT, USER, BrokerMessage, decode_message, encode_message, event_from_envelope
from .connection import Connection
from .presence import Presence, PresenceMeta, UserPresence
from .protocol import CloseCode, MessageType, encode_server_frame
from .ratelimit import TokenBucket
from .room import Backlog, Room

REPLAY_PAGE = 500

logger = logging.getLogger(__name__)


def room_channel(workspace_id: str) -> str:
    return f"ws:{workspace_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class Hub:
    def __init__(
        self,
        settings: Settings,
        feeds: WorkspaceFeeds,
        broker: Broker,
        presence: Presence,
        metrics: NodeMetrics,
    ) -> None:
        self.settings = settings
        self.feeds = feeds
        self.broker = broker
        self.presence = presence
        self.metrics = metrics
        self.rooms: dict[str, Room] = {}
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[str, dict[str, Connection]] = {}
        self.memberships: dict[str, set[str]] = {}  # connection id -> workspace ids joined
        self._statuses: dict[str, str] = {}  # connection id -> presence status it chose
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()  # strong references until done
        self._emptied = asyncio.Event()  # set whenever the last connection goes
        # One bucket per user across their connections on this node (PROTOCOL §3.5).
        self._user_buckets: dict[str, TokenBucket] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start()
        self._tasks = [
            asyncio.create_task(self._consume(), name="hub-consume"),
            asyncio.create_task(self._poll_log(), name="hub-log-poll"),
        ]

    async def stop(self) -> None:
        await self.close_all()
        tasks = [*self._tasks, *self._background]
        tasks += [room.gap_filler for room in self.rooms.values() if room.gap_filler is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.broker.close()

    async def close_all(self, grace: float = 5.0) -> None:
        """Close every connection with 1001 (going away) and wait, up to `grace` seconds, for them to go."""
        if not self.connections:
            return
        self._emptied.clear()
        for connection in list(self.connections.values()):
            connection.close(CloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._emptied.wait(), grace)

    async def broker_healthy(self) -> bool:
        return await self.broker.healthy()

    # --- connections ----------------------------------------------------------------------------

    def at_capacity(self) -> bool:
        return len(self.connections) >= self.settings.ws_max_connections

    def register(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        self.memberships[connection.id] = set()
        self.metrics.connection_opened()

    def user_bucket(self, user_id: str) -> TokenBucket:
        bucket = self._user_buckets.get(user_id)
        if bucket is None:
            bucket = TokenBucket(self.settings.ws_rate_limit, self.settings.ws_rate_limit_burst)
            self._user_buckets[user_id] = bucket
        return bucket

    def user_connection_count(self, user_id: str) -> int:
        return len(self.by_user.get(user_id, {}))

    async def bind_user(self, connection: Connection, user_id: str) -> None:
        connection.user_id = user_id
        mine = self.by_user.setdefault(user_id, {})
        first = not mine
        mine[connection.id] = connection
        self.metrics.set_authenticated(1)
        if first:
            await self.broker.subscribe(user_channel(user_id))

    async def unregister(self, connection: Connection) -> None:
        user_id = connection.user_id
        # Out of its user's connections first, so that no membership event (WORKSPACE_CREATED,
        # WORKSPACE_MEMBER_ADDED) can join it to a room while it is leaving the others.
        mine = self.by_user.get(user_id, {}) if user_id is not None else {}
        mine.pop(connection.id, None)
        while joined := self.memberships.get(connection.id):
            for workspace_id in list(joined):
                await self.leave(connection, workspace_id)
        self.memberships.pop(connection.id, None)
        self._statuses.pop(connection.id, None)
        self.connections.pop(connection.id, None)
        if user_id is not None and not mine and self.by_user.get(user_id) is mine:
            self.by_user.pop(user_id, None)
            self._user_buckets.pop(user_id, None)
            await self.broker.unsubscribe(user_channel(user_id))
        self.metrics.connection_closed(was_authenticated=user_id is not None)
        if not self.connections:
            self._emptied.set()

    # --- rooms ----------------------------------------------------------------------------------

    async def reserve_room(self, workspace_id: str) -> Room:
        """The room, created and positioned in the log if new; the caller must then `admit` a
        connection to it or `release` it (a reserved room is never dropped)."""
        room = self.rooms.get(workspace_id)
        if room is None:
            room = Room(workspace_id)
            self.rooms[workspace_id] = room
            self.metrics.set_rooms(len(self.rooms))
            room.reserved += 1
            try:
                # Subscribe before reading the position: nothing published in between is missed.
                await self.broker.subscribe(room_channel(workspace_id))
                latest = await self.feeds.latest_seq(workspace_id)
                self._deliver(room, room.sequencer.start(latest or 0))
                room.ready.set_result(None)
            except BaseException as exc:
                # A room that failed to start must not stay behind: the next join tries afresh.
                room.ready.set_exception(exc)
                room.ready.exception()  # retrieved: waiters get it through their own await
                if self.rooms.get(workspace_id) is room:
                    del self.rooms[workspace_id]
                    self.metrics.set_rooms(len(self.rooms))
                    await self.broker.unsubscribe(room_channel(workspace_id))
                raise
            return room
        room.reserved += 1
        try:
            await asyncio.shield(room.ready)
        except BaseException:
            room.reserved -= 1
            raise
        return room

    async def release(self, room: Room) -> None:
        room.reserved -= 1
        await self._drop_room_if_empty(room)

    def admit(self, connection: Connection, room: Room, after: int | None) -> int | None:
        """Join a reserved room, synchronously (no event can slip in between); returns the room's
        seq at that moment, or None when refused.

        `after=None` joins live. Otherwise the connection holds live events in a backlog until
        `catch_up` has sent the log after `after`. Refused: a connection already in the room, or
        whose user the room has seen removed (a join that raced the removal). A refused room
        stays reserved: the caller releases it.
        """
        user_id = connection.user_id
        if room.has(connection) or self.joined(connection, room.workspace_id) or user_id in room.removed:
            return None
        room.reserved -= 1
        if after is None:
            room.live[connection.id] = connection
        else:
            room.catching_up[connection.id] = Backlog(connection)
        self.memberships[connection.id].add(room.workspace_id)
        return room.seq

    async def catch_up(self, connection: Connection, room: Room, after: int, target: int) -> None:
        """Send the log after `after` up to `target` at the reader's pace, then the held live events.

        Past the retention a `reset` snapshot replaces the events. Anything else that goes wrong
        (a hole in the log, a database error) closes the connection with 1013 rather than letting
        it go live over a gap: the client resumes again from what it got.
        """
        cursor = after
        try:
            if after > target and after > (await self.feeds.latest_seq(room.workspace_id) or 0):
                # The client claims events this log never had (a restored database, another
                # deployment): its state cannot be patched, so it starts again from a snapshot.
                cursor = after = await self.send_reset(connection, room.workspace_id, None)
            while cursor < target:
                rows = await self.feeds.replay(room.workspace_id, cursor, target, REPLAY_PAGE)
                if not rows or rows[0][0] != cursor + 1:
                    raise LookupError(f"the log of {room.workspace_id} has a hole after seq {cursor}")
                for seq, envelope in rows:
                    if seq != cursor + 1:
                        raise LookupError(f"the log of {room.workspace_id} has a hole after seq {cursor}")
                    await connection.wait_for_room(len(envelope))
                    connection.send(envelope)
                    cursor = seq
                if connection.closing:
                    return
        except Gone:
            try:
                cursor = await self.send_reset(connection, room.workspace_id, None)
            except Exception:
                logger.exception("reset snapshot failed for %s", room.workspace_id)
                connection.close(CloseCode.TRY_AGAIN_LATER, "could not load the workspace; resume again")
                return
        except Exception:
            logger.exception("replay failed for %s on %s", room.workspace_id, connection.id)
            connection.close(CloseCode.TRY_AGAIN_LATER, "could not replay the log; resume again")
            return
        await self.finish_catch_up(connection, room, max(cursor, after))

    async def send_reset(self, connection: Connection, workspace_id: str, reply_to: str | None) -> int:
        """Send the whole workspace as a `reset` SYNC_RESPONSE; returns the seq it is exact at."""
        assert connection.user_id is not None
        snapshot, seq = await self.feeds.snapshot(workspace_id, connection.user_id)
        frame = encode_server_frame(
            MessageType.SYNC_RESPONSE,
            {"workspaceId": workspace_id, "reset": True, "snapshot": snapshot, "latestSeq": seq},
            reply_to=reply_to,
        )
        # A snapshot is one frame however big the workspace: send it alone on an empty queue.
        await connection.wait_for_room(len(frame))
        connection.send(frame, oversize_ok=True)
        self.metrics.message_out(MessageType.SYNC_RESPONSE)
        return seq

    async def finish_catch_up(self, connection: Connection, room: Room, replayed_to: int) -> None:
        """Release the live events held during a replay, at the reader's pace, then go live.

        Events after `replayed_to` are sent; those at or below it the client already has. The
        connection turns live only once the backlog is empty and the room has reached
        `replayed_to` (a snapshot or a resume point can be ahead of this node's room), with no
        await in between, so nothing is skipped or sent twice. A backlog closed by the user's
        removal (or the workspace's deletion) ends with that event instead of going live.
        """
        while (backlog := room.catching_up.get(connection.id)) is not None:
            if not backlog.events:
                if backlog.closed:
                    del room.catching_up[connection.id]
                    await self._after_leave(connection, room.workspace_id)
                    return
                if room.seq >= replayed_to:
                    del room.catching_up[connection.id]
                    room.live[connection.id] = connection
                    return
                if connection.closing:
                    return
                backlog.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(backlog.arrived.wait(), 1.0)
                continue
            seq, frame = backlog.next()
            if seq <= replayed_to:
                continue
            await connection.wait_for_room(len(frame))
            if room.catching_up.get(connection.id) is not backlog:  # left while waiting
                return
            connection.send(frame)

    async def leave(self, connection: Connection, workspace_id: str) -> None:
        self.memberships.get(connection.id, set()).discard(workspace_id)
        room = self.rooms.get(workspace_id)
        if room is not None:
            room.remove(connection)
        await self._after_leave(connection, workspace_id)

    async def _after_leave(self, connection: Connection, workspace_id: str) -> None:
        """What follows a connection's removal from a room: its presence, and the room if empty.

        Touches neither the room's connections nor the memberships, which the removal changed at
        its place in the order (the user may even be back already)."""
        if not self.joined(connection, workspace_id):
            change = await self.presence.untrack(workspace_id, connection.id, format_timestamp(utcnow()))
            if change is not None:
                await self._announce_presence(workspace_id, change[0], change[1], connection.id)
        room = self.rooms.get(workspace_id)
        if room is not None:
            await self._drop_room_if_empty(room)

    def joined(self, connection: Connection, workspace_id: str) -> bool:
        return workspace_id in self.memberships.get(connection.id, ())

    async def _drop_room_if_empty(self, room: Room) -> None:
        if room.empty and self.rooms.get(room.workspace_id) is room:
            del self.rooms[room.workspace_id]
            self.metrics.set_rooms(len(self.rooms))
            if room.gap_filler is not None:
                room.gap_filler.cancel()
            await self.broker.unsubscribe(room_channel(room.workspace_id))
            if room.workspace_id in self.rooms:
                # A new room for the workspace subscribed while this unsubscribe was in flight (a
                # broker whose calls really wait): subscribe again; the log covers the moment between.
                await self.broker.subscribe(room_channel(room.workspace_id))

    # --- presence -------------------------------------------------------------------------------

    async def track_presence(
        self, connection: Connection, workspace_id: str, status: str | None = None
    ) -> None:
        """Record the connection in the room's presence and tell the others if its user's status changed."""
        assert connection.user_id is not None
        status = status or self._statuses.get(connection.id, "online")
        self._statuses[connection.id] = status
        meta = PresenceMeta(connection.id, connection.user_id, status, format_timestamp(utcnow()))
        before, after = await self.presence.track(workspace_id, meta)
        await self._announce_presence(workspace_id, before, after, connection.id)

    async def _announce_presence(
        self, workspace_id: str, before: UserPresence | None, after: UserPresence, origin: str
    ) -> None:
        if before is not None and before.status == after.status:
            return
        frame = encode_server_frame(MessageType.USER_PRESENCE, {"workspaceId": workspace_id, **after.wire()})
        await self.publish_ephemeral(workspace_id, MessageType.USER_PRESENCE, frame, origin)

    # --- publishing (the EventPublisher seam and ephemeral traffic) -----------------------------

    async def publish_committed(self, events: Sequence[CommittedEvent]) -> None:
        for event in events:
            message = BrokerMessage(
                EVENT,
                event.type,
                event.envelope,
                workspace_id=event.workspace_id,
                seq=event.seq,
                subject_user_id=event.subject_user_id,
            )
            await self._publish(room_channel(event.workspace_id), message)
            if event.type == MessageType.WORKSPACE_MEMBER_ADDED and event.subject_user_id:
                # The added user's nodes may have no room for this workspace (so no subscription to
                # its channel): tell them on the user's own channel, with the seq to join from.
                await self._publish(
                    user_channel(event.subject_user_id),
                    BrokerMessage(
                        USER,
                        event.type,
                        event.envelope,
                        workspace_id=event.workspace_id,
                        seq=event.seq,
                        subject_user_id=event.subject_user_id,
                        join_workspace_id=event.workspace_id,
                    ),
                )

    async def notify_user(self, user_id: str, envelope: str, join_workspace_id: str | None = None) -> None:
        message = BrokerMessage(
            USER, "", envelope, subject_user_id=user_id, join_workspace_id=join_workspace_id
        )
        await self._publish(user_channel(user_id), message)

    async def publish_ephemeral(
        self, workspace_id: str, message_type: str, frame: str, origin: str | None
    ) -> None:
        message = BrokerMessage(
            EPHEMERAL, message_type, frame, workspace_id=workspace_id, origin_connection_id=origin
        )
        await self._publish(room_channel(workspace_id), message)

    async def _publish(self, channel: str, message: BrokerMessage) -> None:
        try:
            await self.broker.publish(channel, encode_message(message))
        except Exception:  # the log still has logged events; ephemeral ones are best effort
            logger.exception("broker publish failed on %s", channel)

    # --- receiving ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        async for channel, payload in self.broker.messages():
            try:
                self._dispatch(channel, decode_message(payload))
            except Exception:  # one bad message must not stop delivery
                logger.exception("could not dispatch a message on %s", channel)

    def _dispatch(self, channel: str, message: BrokerMessage) -> None:
        if message.kind == USER:
            self._deliver_to_user(message)
            return
        room = self.rooms.get(message.workspace_id or "")
        if room is None:
            return
        if message.kind == EPHEMERAL:
            sent = room.fan_out(None, message.frame, skip=message.origin_connection_id)
            self.metrics.message_out(message.type, sent)
            return
        assert message.seq is not None
        self._deliver(room, room.sequencer.offer(message.seq, message))
        self._fill_gap_if_any(room)

    def _fill_gap_if_any(self, room: Room) -> None:
        if room.sequencer.missing() is not None and room.gap_filler is None:
            room.gap_filler = asyncio.create_task(self._fill_gap(room), name=f"gap-{room.workspace_id}")

    def _deliver(self, room: Room, ready: list[tuple[int, BrokerMessage]]) -> None:
        for seq, message in ready:
            sent = room.fan_out(seq, message.frame)
            self.metrics.message_out(message.type, sent)
            if message.published_at:
                self.metrics.fanout(max(0.0, time.time() - message.published_at))
            self._apply_membership(room, seq, message)

    def _apply_membership(self, room: Room, seq: int, message: BrokerMessage) -> None:
        """Membership events act on the room at their place in the order, synchronously: the
        next event fanned out already sees the room as it is after this one."""
        workspace_id = room.workspace_id
        if message.type == MessageType.WORKSPACE_MEMBER_ADDED and message.subject_user_id:
            room.removed.discard(message.subject_user_id)
            for connection in list(self.by_user.get(message.subject_user_id, {}).values()):
                if not room.has(connection) and not self.joined(connection, workspace_id):
                    connection.send(message.frame)
                    self.metrics.message_out(message.type)
                    room.live[connection.id] = connection
                    self.memberships[connection.id].add(workspace_id)
                    self.spawn(self.welcome(connection, workspace_id))
        elif message.type == MessageType.WORKSPACE_MEMBER_REMOVED and message.subject_user_id:
            room.removed.add(message.subject_user_id)
            for connection in list(self.by_user.get(message.subject_user_id, {}).values()):
                self._remove_at(room, connection)
        elif message.type == MessageType.WORKSPACE_DELETED:
            for connection_id in [*room.live, *room.catching_up]:
                gone = self.connections.get(connection_id)
                if gone is not None:
                    self._remove_at(room, gone)

    def _remove_at(self, room: Room, connection: Connection) -> None:
        """Take a connection out of the room now: a live one at once; one catching up after its
        backlog, which already ends with the event that removed it."""
        if not room.has(connection):
            return
        self.memberships.get(connection.id, set()).discard(room.workspace_id)
        backlog = room.catching_up.get(connection.id)
        if backlog is not None:
            backlog.close()
            return
        del room.live[connection.id]
        self.spawn(self._after_leave(connection, room.workspace_id))

    def _deliver_to_user(self, message: BrokerMessage) -> None:
        connections = list(self.by_user.get(message.subject_user_id or "", {}).values())
        if message.join_workspace_id is None:
            for connection in connections:
                connection.send(message.frame)
            self.metrics.message_out(message.type, len(connections))
            return
        if message.seq is not None:  # WORKSPACE_MEMBER_ADDED: the room's own copy carries the frame
            for connection in connections:
                self.spawn(self._join_from(connection, message.join_workspace_id, message.seq - 1))
            return
        for connection in connections:  # WORKSPACE_CREATED
            connection.send(message.frame)
            self.spawn(self._join_from(connection, message.join_workspace_id, 0))
        self.metrics.message_out(MessageType.WORKSPACE_CREATED, len(connections))

    def _gone(self, connection: Connection) -> bool:
        """Closing, or leaving the node (no longer among its user's connections)."""
        return connection.closing or connection.id not in self.by_user.get(connection.user_id or "", {})

    async def _join_from(self, connection: Connection, workspace_id: str, after: int) -> None:
        """Join a connection to a workspace it just became part of, with the log after `after`.

        For a new workspace (after 0) and for an added member (after the seq before the addition):
        the room may be new on this node, or past that seq already, so the log fills the start.
        """
        if self._gone(connection) or self.joined(connection, workspace_id):
            return
        room = await self.reserve_room(workspace_id)
        target = None if self._gone(connection) else self.admit(connection, room, after)
        if target is None:
            await self.release(room)
            return
        await self.catch_up(connection, room, after, target)
        await self.welcome(connection, workspace_id)

    async def welcome(self, connection: Connection, workspace_id: str) -> None:
        """Presence for a connection that just joined: track it, then send it the room's state.

        With WS_ENABLE_PRESENCE off there is no presence at all: nothing tracked, nothing sent."""
        if not self.settings.ws_enable_presence or not self.joined(connection, workspace_id):
            return
        await self.track_presence(connection, workspace_id)
        if not self.joined(connection, workspace_id):  # left while being tracked: leave no ghost
            await self.leave(connection, workspace_id)
            return
        users = await self.presence.users(workspace_id)
        connection.send(
            encode_server_frame(
                MessageType.PRESENCE_STATE, {"workspaceId": workspace_id, "users": [u.wire() for u in users]}
            )
        )
        self.metrics.message_out(MessageType.PRESENCE_STATE)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # --- the log as the safety net --------------------------------------------------------------

    async def _fill_gap(self, room: Room) -> None:
        try:
            await asyncio.sleep(self.settings.ws_gap_fill_delay / 1000)
            while (missing := room.sequencer.missing()) is not None:
                after, upto = missing
                rows = await self.feeds.read_range(room.workspace_id, after, upto)
                if rows and rows[0][0] == after + 1:
                    for seq, envelope in rows:
                        self._deliver(
                            room,
                            room.sequencer.offer(seq, event_from_envelope(room.workspace_id, seq, envelope)),
                        )
                else:
                    logger.warning(
                        "events %d..%d of %s are gone from the log", after + 1, upto, room.workspace_id
                    )
                    self._deliver(room, room.sequencer.skip_to(upto))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("gap fill failed for %s", room.workspace_id)
        finally:
            room.gap_filler = None

    async def _poll_log(self) -> None:
        interval = self.settings.ws_log_poll_interval / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.catch_up_with_log()
            except Exception:
                logger.exception("log poll failed")

    async def catch_up_with_log(self) -> None:
        """Deliver events committed but not (yet) received through the broker."""
        rooms = [room for room in self.rooms.values() if room.sequencer.started and room.gap_filler is None]
        if not rooms:
            return
        latest = await self.feeds.latest_seqs([room.workspace_id for room in rooms])
        for room in rooms:
            head = latest.get(room.workspace_id)
            if self.rooms.get(room.workspace_id) is not room or head is None or head <= room.seq:
                continue
            rows = await self.feeds.read_range(room.workspace_id, room.seq, head)
            if self.rooms.get(room.workspace_id) is not room:  # dropped meanwhile
                continue
            for seq, envelope in rows:
                self._deliver(
                    room, room.sequencer.offer(seq, event_from_envelope(room.workspace_id, seq, envelope))
                )
            # Rows already pruned leave a gap that only the gap filler gives up on.
            self._fill_gap_if_any(room)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background hub task failed", exc_info=task.exception())
