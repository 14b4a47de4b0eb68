"""Joins: rooms reserved and released, and the one path that puts a connection in rooms.

A room exists on this node while a connection is in it or something holds it reserved (a join
in progress, a watcher). `reserve_room` starts a new room: it subscribes to the workspace's
channel before reading the room's position in the log, so nothing published in between is
missed, and gives the room its start mark (`Room.positioned_at`: how many rooms this node had
positioned in the log by then).

`join` is used by authentication (the workspaces asked for, with resume points) and by live
membership (a workspace the user was just added to, or created). Its staleness rule closes the
race with a removal: see `join`. The join path's races are unit tests against fake reads
(`tests/unit/test_joins.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Protocol

from .announcer import PresenceAnnouncer
from .background import BackgroundTasks
from .broker import Broker
from .codec import JoinFrom
from .connection import Connection
from .port import JoinResult
from .publishing import room_channel
from .registry import ConnectionRegistry
from .replay import Replayer
from .room import Room, Step
from .routing import MembershipEffects, Router


class JoinReads(Protocol):
    """What the join path reads from storage (`services.feeds.WorkspaceFeeds` has them)."""

    async def latest_seq(self, workspace_id: str) -> int | None: ...

    async def memberships(self, user_id: str) -> set[str] | None:
        """The workspaces the user belongs to; None when the account does not exist."""
        ...


class Joins(MembershipEffects):
    def __init__(
        self,
        router: Router,
        broker: Broker,
        reads: JoinReads,
        registry: ConnectionRegistry,
        announcer: PresenceAnnouncer,
        replayer: Replayer,
        background: BackgroundTasks,
    ) -> None:
        self._router = router
        self._rooms = router.rooms
        self._broker = broker
        self._reads = reads
        self._registry = registry
        self._announcer = announcer
        self._replayer = replayer
        self._background = background
        self._starting: dict[str, asyncio.Future[None]] = {}  # rooms being positioned in the log
        self._positioned = 0  # rooms positioned in the log so far: the next start mark is one more

    def start_mark(self) -> int:
        """The start mark of the last room positioned (see `join`'s `checked_at`)."""
        return self._positioned

    # --- rooms ----------------------------------------------------------------------------------

    async def reserve_room(self, workspace_id: str) -> Room:
        """The room, reserved (never dropped until released).

        A new room is subscribed to the broker before its position is read from the log, so
        nothing published in between is missed."""
        room = self._rooms.get(workspace_id)
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
        room = Room(workspace_id, self._registry)
        room.reserved += 1
        self._router.add(room)
        starting = self._starting[workspace_id] = asyncio.get_running_loop().create_future()
        try:
            await self._broker.subscribe(room_channel(workspace_id))
            latest = await self._reads.latest_seq(workspace_id)
            self._positioned += 1
            room.positioned_at = self._positioned
            self._router.deliver(room, room.sequencer.start(latest or 0))
            starting.set_result(None)
        except BaseException as exc:
            # A room that failed to start must not stay behind: the next join tries afresh.
            starting.set_exception(exc)
            starting.exception()  # retrieved: waiters get it through their own await
            if self._router.remove(room):
                await self._broker.unsubscribe(room_channel(workspace_id))
            raise
        finally:
            del self._starting[workspace_id]
        return room

    async def release(self, room: Room) -> None:
        room.reserved -= 1
        await self._drop_room_if_empty(room)

    async def _drop_room_if_empty(self, room: Room) -> None:
        if room.empty and self._router.remove(room):
            await self._broker.unsubscribe(room_channel(room.workspace_id))
            if room.workspace_id in self._rooms:
                # A new room for the workspace subscribed while this unsubscribe was in flight (a
                # broker whose calls really wait): subscribe again; the log covers the moment between.
                await self._broker.subscribe(room_channel(room.workspace_id))

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

        A workspace in `resume` is caught up from that seq; the others are joined live.

        `checked_at` is `start_mark()` read just before the caller read the user's memberships
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
            stale = checked_at is None or any(room.positioned_at > checked_at for room in reserved)
            members_of: Collection[str] = (
                (await self._reads.memberships(user_id) or set()) if stale else workspace_ids
            )
        except BaseException:
            for room in reserved:  # reserved rooms must not stay pinned
                await self.release(room)
            raise
        catch_ups: list[tuple[Room, int, int]] = []
        admitted: list[Room] = []
        if not self._registry.is_leaving(connection):
            for room in reserved:
                since = resume.get(room.workspace_id)
                target = room.join(connection, since) if room.workspace_id in members_of else None
                if target is not None:
                    admitted.append(room)
                    if since is not None:
                        catch_ups.append((room, since, target))
        joined = {w: self._rooms[w].seq for w in workspace_ids if self._router.joined(connection, w)}

        async def finish() -> None:
            for room in reserved:
                await self.release(room)
            for room, since, target in catch_ups:
                step = await self._replayer.catch_up(connection, room, since, target)
                if step is Step.LEFT:
                    await self.after_leave(connection, room)
            for room in admitted:
                await self.welcome(connection, room.workspace_id)

        return JoinResult(joined, finish)

    async def welcome(self, connection: Connection, workspace_id: str) -> None:
        if not await self._announcer.welcome(connection, workspace_id):
            await self.leave(connection, workspace_id)  # left while being tracked: leave no ghost

    async def leave(self, connection: Connection, workspace_id: str) -> None:
        room = self._rooms.get(workspace_id)
        if room is None:
            connection.rooms.discard(workspace_id)
            return
        room.leave(connection)
        await self.after_leave(connection, room)

    async def after_leave(self, connection: Connection, room: Room) -> None:
        """What follows a connection's removal from a room: its presence, and the room if empty."""
        if not room.is_member(connection):
            await self._announcer.left(connection, room.workspace_id)
        await self._drop_room_if_empty(room)

    async def join_from(self, connection: Connection, join: JoinFrom) -> None:
        if not self._registry.is_leaving(connection) and join.workspace_id not in connection.rooms:
            result = await self.join(connection, [join.workspace_id], {join.workspace_id: join.after})
            await result.finish()

    # --- what deliveries ask for (`routing.MembershipEffects`) ------------------------------------

    def welcome_later(self, connection: Connection, room: Room) -> None:
        self._background.spawn(self.welcome(connection, room.workspace_id))

    def tidy_later(self, connection: Connection, room: Room) -> None:
        self._background.spawn(self.after_leave(connection, room))

    def join_later(self, connection: Connection, join: JoinFrom) -> None:
        if not self._registry.is_leaving(connection) and join.workspace_id not in connection.rooms:
            self._background.spawn(self.join_from(connection, join))
