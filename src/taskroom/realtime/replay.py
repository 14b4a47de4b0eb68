"""Catching a connection up: the log from its resume point, then the live events held meanwhile.

A connection that resumes (or joins a workspace it was just added to) is in its room as catching
up (see `Room`): the room holds live events for it while this sends the log at the reader's pace,
then releases what was held and turns it live with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import Gone
from ..metrics import NodeMetrics
from ..services.feeds import WorkspaceFeeds
from ..wire import MessageType, encode_server_frame
from .connection import Connection
from .frames import text_frame
from .protocol import CloseCode
from .room import Room, Step

REPLAY_PAGE = 500
# Reset snapshots this node builds at once. Each holds a whole workspace in memory until it is
# sent, so a burst of clients returning after the retention queues here instead of multiplying
# the node's memory by their number.
SNAPSHOTS_AT_ONCE = 2
# How long a connection waiting for its room to reach its resume point sleeps between looks
# (events wake it sooner).
_WAIT_SECONDS = 1.0

logger = logging.getLogger(__name__)


class Replayer:
    def __init__(self, feeds: WorkspaceFeeds, metrics: NodeMetrics) -> None:
        self._feeds = feeds
        self._metrics = metrics
        self._snapshots = asyncio.Semaphore(SNAPSHOTS_AT_ONCE)

    async def catch_up(self, connection: Connection, room: Room, after: int, target: int) -> Step:
        """Send the log after `after` up to `target`, then the held live events; how it ended.

        Past the retention a `reset` snapshot replaces the events. Anything else that goes wrong
        (a hole in the log, a database error) closes the connection with 1013 rather than letting
        it go live over a gap: the client resumes again from what it got (`STOPPED` is returned).
        """
        cursor = after
        try:
            if after > target and after > (await self._feeds.latest_seq(room.workspace_id) or 0):
                # The client claims events this log never had (a restored database, another
                # deployment): its state cannot be patched, so it starts again from a snapshot.
                cursor = after = await self.send_reset(connection, room.workspace_id, None)
            while cursor < target and not connection.closing:
                rows = await self._feeds.replay(room.workspace_id, cursor, target, REPLAY_PAGE)
                for row in rows:
                    if row.seq != cursor + 1:
                        raise LookupError(f"the log of {room.workspace_id} has a hole after seq {cursor}")
                    frame = text_frame(row.envelope.encode())
                    await connection.wait_for_room(len(frame))
                    connection.send(frame)
                    cursor = row.seq
                if not rows:
                    raise LookupError(f"the log of {room.workspace_id} has a hole after seq {cursor}")
        except Gone:
            try:
                cursor = await self.send_reset(connection, room.workspace_id, None)
            except Exception:
                logger.exception("reset snapshot failed for %s", room.workspace_id)
                connection.close(CloseCode.TRY_AGAIN_LATER, "could not load the workspace; resume again")
                return Step.STOPPED
        except Exception:
            logger.exception("replay failed for %s on %s", room.workspace_id, connection.id)
            connection.close(CloseCode.TRY_AGAIN_LATER, "could not replay the log; resume again")
            return Step.STOPPED
        return await self._release_backlog(connection, room, max(cursor, after))

    async def send_reset(self, connection: Connection, workspace_id: str, reply_to: str | None) -> int:
        """Send the whole workspace as a `reset` SYNC_RESPONSE; returns the seq it is exact at."""
        assert connection.user_id is not None
        async with self._snapshots:
            snapshot, seq = await self._feeds.snapshot(workspace_id, connection.user_id)
            frame = text_frame(
                encode_server_frame(
                    MessageType.SYNC_RESPONSE,
                    {"workspaceId": workspace_id, "reset": True, "snapshot": snapshot, "latestSeq": seq},
                    reply_to=reply_to,
                ).encode()
            )
            del snapshot  # only the frame is kept while it waits for room on the socket
        # A snapshot is one frame however big the workspace: send it alone on an empty socket.
        await connection.wait_for_room(len(frame))
        connection.send(frame, oversize_ok=True)
        self._metrics.message_out(MessageType.SYNC_RESPONSE)
        return seq

    async def _release_backlog(self, connection: Connection, room: Room, replayed_to: int) -> Step:
        """Send the held events at the reader's pace until the room turns the connection live."""
        while True:
            if connection.closing:
                return Step.STOPPED
            step, frame = room.catch_up_step(connection, replayed_to)
            if step is Step.SEND:
                assert frame is not None
                await connection.wait_for_room(len(frame))
                connection.send(frame)
            elif step is Step.WAIT:
                backlog = room.catching_up[connection.id]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(backlog.arrived.wait(), _WAIT_SECONDS)
            else:
                return step
