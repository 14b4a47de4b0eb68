"""The log as the safety net under the broker: gaps filled, unpublished events found.

The broker is the fast path and may lose a message (a node dies between commit and publish, a
connection to Redis drops). Two things repair that from the log, the source of truth:

- a room holding an early event waits WS_GAP_FILL_DELAY for the missing seqs, then reads them;
- a commit notice (`commit_listener.py`, PostgreSQL) names a workspace's new head: a room that
  has not received it through the broker WS_GAP_FILL_DELAY later reads the log up to it;
- every WS_LOG_POLL_INTERVAL each room's seq is compared with the log's, and what was committed
  but never received is read and delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from ..events import LogEvent
from ..services.feeds import WorkspaceFeeds
from ..settings import Settings
from .room import Room

logger = logging.getLogger(__name__)


class RoomDelivery(Protocol):
    """Where events read from the log go: the same delivery path as the broker's (`routing.py`)."""

    def deliver(self, room: Room, ready: list[tuple[int, LogEvent]]) -> None: ...


class LogSafetyNet:
    """Implements `commit_listener.CommitNotices`: commit notices are heard here."""

    def __init__(
        self, settings: Settings, feeds: WorkspaceFeeds, rooms: Mapping[str, Room], delivery: RoomDelivery
    ) -> None:
        self._gap_fill_delay = settings.ws_gap_fill_delay_seconds
        self._poll_interval = settings.ws_log_poll_interval_seconds
        self._feeds = feeds
        self._rooms = rooms
        self._delivery = delivery
        self._fillers: dict[str, asyncio.Task[None]] = {}
        self._heads: dict[str, int] = {}  # heads heard in commit notices, not yet received
        self._head_checks: dict[str, asyncio.Task[None]] = {}
        self._catch_up: asyncio.Task[None] | None = None

    def watch(self, room: Room) -> None:
        """Start filling the room's gap, if it has one and no filler is at it yet."""
        if room.sequencer.missing() is not None and room.workspace_id not in self._fillers:
            self._fillers[room.workspace_id] = asyncio.create_task(
                self._fill_gap(room), name=f"gap-{room.workspace_id}"
            )

    def forget(self, room: Room) -> None:
        self._heads.pop(room.workspace_id, None)
        for tasks in (self._fillers, self._head_checks):
            task = tasks.pop(room.workspace_id, None)
            if task is not None:
                task.cancel()

    def tasks(self) -> list[asyncio.Task[None]]:
        catch_up = [self._catch_up] if self._catch_up is not None else []
        return [*self._fillers.values(), *self._head_checks.values(), *catch_up]

    def heard_commit(self, workspace_id: str, seq: int) -> None:
        """A commit notice: the workspace's log reached `seq`. Cheap when the broker was first."""
        room = self._rooms.get(workspace_id)
        if room is None or not room.sequencer.started or seq <= room.seq:
            return
        if seq <= self._heads.get(workspace_id, 0):
            return
        self._heads[workspace_id] = seq
        if workspace_id not in self._head_checks:
            self._head_checks[workspace_id] = asyncio.create_task(
                self._reach_head(workspace_id), name=f"head-{workspace_id}"
            )

    def catch_up_soon(self) -> None:
        """Compare every room with the log now (notices or broker messages may have been missed)."""
        if self._catch_up is None or self._catch_up.done():
            self._catch_up = asyncio.create_task(self._catch_up_logged(), name="log-catch-up")

    async def _catch_up_logged(self) -> None:
        try:
            await self.catch_up_with_log()
        except Exception:
            logger.exception("log catch-up failed")

    async def _reach_head(self, workspace_id: str) -> None:
        try:
            # The broker's copy usually arrives within this delay and nothing is read.
            await asyncio.sleep(self._gap_fill_delay)
            head = self._heads.pop(workspace_id, 0)
            room = self._rooms.get(workspace_id)
            if room is not None and head > room.seq and workspace_id not in self._fillers:
                await self._read_up_to(room, head)
        except asyncio.CancelledError:
            if self._head_checks.get(workspace_id) is asyncio.current_task():
                del self._head_checks[workspace_id]
            raise
        except Exception:
            logger.exception("reading %s up to a committed head failed", workspace_id)
        if self._head_checks.get(workspace_id) is asyncio.current_task():
            del self._head_checks[workspace_id]
        if workspace_id in self._heads:  # a later head was heard while reading
            self.heard_commit(workspace_id, self._heads.pop(workspace_id))

    async def _fill_gap(self, room: Room) -> None:
        try:
            await asyncio.sleep(self._gap_fill_delay)
            while (missing := room.sequencer.missing()) is not None:
                after, upto = missing
                rows = await self._feeds.read_range(room.workspace_id, after, upto)
                if rows and rows[0].seq == after + 1:
                    for row in rows:
                        self._delivery.deliver(room, room.sequencer.offer(row.seq, row))
                else:
                    logger.warning(
                        "events %d..%d of %s are gone from the log", after + 1, upto, room.workspace_id
                    )
                    self._delivery.deliver(room, room.sequencer.skip_to(upto))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("gap fill failed for %s", room.workspace_id)
        finally:
            if self._fillers.get(room.workspace_id) is asyncio.current_task():
                del self._fillers[room.workspace_id]

    async def run(self) -> None:
        """Poll the log every WS_LOG_POLL_INTERVAL; a failure is logged and retried next round."""
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await self.catch_up_with_log()
            except Exception:
                logger.exception("log poll failed")

    async def catch_up_with_log(self) -> None:
        """Deliver events committed but not (yet) received through the broker."""
        rooms = [
            room
            for room in self._rooms.values()
            if room.sequencer.started and room.workspace_id not in self._fillers
        ]
        if not rooms:
            return
        latest = await self._feeds.latest_seqs([room.workspace_id for room in rooms])
        for room in rooms:
            head = latest.get(room.workspace_id)
            if self._rooms.get(room.workspace_id) is not room or head is None or head <= room.seq:
                continue
            await self._read_up_to(room, head)

    async def _read_up_to(self, room: Room, head: int) -> None:
        rows = await self._feeds.read_range(room.workspace_id, room.seq, head)
        if self._rooms.get(room.workspace_id) is not room:  # dropped meanwhile
            return
        for row in rows:
            self._delivery.deliver(room, room.sequencer.offer(row.seq, row))
        # Rows already pruned leave a gap that only the gap filler gives up on.
        self.watch(room)
