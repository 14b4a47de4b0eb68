"""The node heartbeat of a service on Redis: stay alive, write state back, sweep the dead.

Every WS_HEARTBEAT_INTERVAL a node refreshes its liveness (`redis_state.py`). When it had been
counted dead, or missed Redis meanwhile, it writes its presence entries and connection slots
again (and the others hear any presence that changed). Then it claims the instances that
stopped beating (one claimant each) and removes what they left: their connection slots stop
counting, and each user left with no connection is announced `offline` once, through this
node's publisher, so every node's connections hear it.

A node killed without a goodbye: its liveness lapses two heartbeats after its last one, and the
next heartbeat of a survivor sweeps it, so its users are offline within three.

In local mode (Redis was away, `redis_state.py`) the heartbeat probes every PROBE_SECONDS. The
probe that gets through drops the pooled connections, writes this node's entries back, and only
then returns the node to shared mode. A node back from an outage sweeps nobody for one liveness
period (two heartbeats): every node's beats stopped while Redis was away, and a node that swept
at once would count all the others dead, announce their users offline and have them written back
a moment later; that storm of presence changes across every node is what an outage must not cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..redis_state import PROBE_SECONDS, REDIS_ERRORS, RedisNodeState
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
        returning = not self._state.usable()
        if returning:
            # Every pooled connection predates the outage: drop them all now rather than find
            # the dead ones one at a time, each failure sending the node back to local mode.
            await self._state.drop_connections()
        was_alive = await self._state.beat()
        try:
            missed_redis = self._state.take_dirty()
            if missed_redis or not was_alive or returning:
                for change in await self._presence.resync():
                    await self._announcer.announce(change.workspace_id, change.before, change.after)
                await self._limits.resync()
            if returning:
                self._state.back_in_shared_mode()
                await self._limits.carry()  # what was counted during the switch itself
            if self._state.shared_for() < self._state.ttl_seconds:
                return  # back from an outage (or just started): the others' beats are late too
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
            interval: float = self._state.heartbeat_seconds
            if not self._state.usable():
                interval = min(interval, PROBE_SECONDS)
            await asyncio.sleep(interval)
            try:
                await self.beat()
            except REDIS_ERRORS:
                pass  # logged once by the state; the next beat tries again
            except Exception:  # the heartbeat must outlive any one failure
                logger.exception("heartbeat failed")
