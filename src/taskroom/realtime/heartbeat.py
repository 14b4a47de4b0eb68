"""The node heartbeat of a service on Redis: stay alive, write state back, sweep the dead.

Every WS_HEARTBEAT_INTERVAL a node refreshes its liveness (`redis_state.py`). When it had been
counted dead, or missed Redis meanwhile, it writes its presence entries and connection slots
again (and the others hear any presence that changed). Then it claims the instances that
stopped beating (one claimant each) and removes what they left: their connection slots stop
counting, and each user left with no connection is announced `offline` once, through this
node's publisher, so every node's connections hear it.

A node killed without a goodbye: its liveness lapses two heartbeats after its last one, and the
next heartbeat of a survivor sweeps it, so its users are offline within three.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..redis_state import REDIS_ERRORS, RedisNodeState
from ..security.redis_limit_store import RedisLimitStore
from .announcer import PresenceAnnouncer
from .redis_presence import RedisPresence

logger = logging.getLogger(__name__)


class NodeHeartbeat:
    def __init__(
        self,
        state: RedisNodeState,
        presence: RedisPresence,
        limits: RedisLimitStore,
        announcer: PresenceAnnouncer,
    ) -> None:
        self._state = state
        self._presence = presence
        self._limits = limits
        self._announcer = announcer
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Beat once now (so this node is alive before it serves), then every interval."""
        with contextlib.suppress(*REDIS_ERRORS):  # logged by the state; the loop keeps trying
            await self.beat()
        self._task = asyncio.create_task(self._run(), name="node-heartbeat")

    async def stop(self) -> None:
        """Stop beating and leave: this node's connections were closed (and untracked) first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._presence.goodbye()
            await self._limits.goodbye()
            await self._state.goodbye()
        except REDIS_ERRORS as exc:
            logger.warning("could not leave Redis cleanly (%s); the others will sweep this node", exc)
        await self._state.close()

    async def beat(self) -> None:
        was_alive = await self._state.beat()
        try:
            missed_redis = self._state.take_dirty()
            if missed_redis or not was_alive:
                for change in await self._presence.resync():
                    await self._announcer.announce(change.workspace_id, change.before, change.after)
                await self._limits.resync()
            for instance in await self._state.claim_dead():
                offline = await self._presence.sweep(instance)
                await self._limits.sweep(instance)
                await self._state.forget(instance)
                if offline:
                    logger.info("node %s stopped beating: %d users left offline", instance, len(offline))
                for change in offline:
                    await self._announcer.announce(change.workspace_id, change.before, change.after)
        except REDIS_ERRORS as exc:
            self._state.failed("heartbeat", exc)  # written again on the next beat that gets through
            raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._state.heartbeat_seconds)
            try:
                await self.beat()
            except REDIS_ERRORS:
                pass  # logged once by the state; the next beat tries again
            except Exception:  # the heartbeat must outlive any one failure
                logger.exception("heartbeat failed")
