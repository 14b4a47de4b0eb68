"""The delivery loop of one node: claims due hooks and delivers each in a task of its own.

A hook delivers one event at a time, in seq order, and moves its stored cursor only after the
receiver's 2xx: a node that stops or dies resends at most the event in flight. Deliveries never
run on a request's path, and at most WEBHOOK_MAX_CONCURRENCY of them at once, so a slow receiver
costs one task and one pooled connection, not REST or WebSocket latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from datetime import timedelta

import httpx

from ...settings import Settings
from ..database import Database
from .backoff import retry_delay
from .delivery import Sender
from .store import Attempt, Claim, DeliveryStore

logger = logging.getLogger(__name__)

# Events read from the log per round trip of one hook.
BATCH = 100


class WebhookWorker:
    def __init__(self, settings: Settings, db: Database) -> None:
        self._settings = settings
        timeout = settings.webhook_timeout_seconds
        lease = max(settings.webhook_lease_timeout_seconds, 3 * timeout)
        self._store = DeliveryStore(
            db, settings.node_id, timedelta(seconds=lease), settings.webhook_attempts_kept
        )
        self._timeout = timeout
        self._wakeup = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """A new event may be waiting (a commit here or on another node): look at the hooks now."""
        self._wakeup.set()

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=self._settings.webhook_max_concurrency)
        # No redirects: a receiver could otherwise point the POST at an address refused by the check.
        self._client = httpx.AsyncClient(
            timeout=self._timeout, limits=limits, follow_redirects=False, trust_env=False
        )
        self._loop_task = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def stop(self) -> None:
        # Taken first: each delivery task leaves `_running` as it ends.
        held = list(self._running)
        tasks = [t for t in (self._loop_task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()
        try:
            # The next node goes on at once instead of after the lease runs out.
            await self._store.release(held)
        except Exception:
            logger.warning("webhooks: could not release %d lease(s) on stop", len(held))
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        poll = self._settings.webhook_poll_interval_seconds
        while True:
            self._wakeup.clear()
            try:
                await self._claim()
            except Exception:  # the database may be away; the next round tries again
                logger.exception("webhooks: claiming hooks failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), poll)

    async def _claim(self) -> None:
        free = self._settings.webhook_max_concurrency - len(self._running)
        for claim in await self._store.claim_due(free, self._running.keys()):
            task = asyncio.create_task(self._deliver(claim), name=f"webhook-{claim.id}")
            self._running[claim.id] = task
            task.add_done_callback(functools.partial(self._finished, claim.id))

    def _finished(self, hook_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(hook_id, None)
        # A slot is free, and this hook may have more to send: look again.
        self.wake()

    async def _deliver(self, claim: Claim) -> None:
        assert self._client is not None
        sender = Sender(self._client, self._timeout, self._settings.webhook_allow_private)
        try:
            while await self._deliver_batch(claim, sender):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("webhooks: delivery of hook %s failed", claim.id)
        with contextlib.suppress(Exception):
            await self._store.release([claim.id])

    async def _deliver_batch(self, claim: Claim, sender: Sender) -> bool:
        """Send the next events; True when there may be more and the hook is still this node's."""
        events = await self._store.pending(claim, BATCH)
        if not events:
            # Behind the log's head with nothing left to read: the rest was pruned past retention.
            await self._store.skip_pruned(claim)
            return False
        skipped_to: int | None = None
        for event in events:
            if claim.events is not None and event.type not in claim.events:
                skipped_to = event.seq
                continue
            attempt = await sender.send(claim, event)
            if attempt.ok:
                if not await self._store.advance(claim, event.seq, attempt):
                    return False
                skipped_to = None
                continue
            if skipped_to is not None and not await self._store.advance(claim, skipped_to, None):
                return False
            await self._retry_later(claim, attempt)
            return False
        if skipped_to is not None:
            return await self._store.advance(claim, skipped_to, None)
        return True

    async def _retry_later(self, claim: Claim, attempt: Attempt) -> None:
        settings = self._settings
        delay = retry_delay(
            claim.failures + 1,
            settings.webhook_retry_initial_interval_seconds,
            settings.webhook_retry_max_interval_seconds,
        )
        window = timedelta(seconds=settings.webhook_retry_window_seconds)
        gave_up = await self._store.fail(claim, attempt, timedelta(seconds=delay), window)
        if gave_up:
            logger.warning("webhooks: hook %s is failing after %s of failures", claim.id, window)
            return
        # The poll would find it too; this keeps short back-offs short.
        asyncio.get_running_loop().call_later(delay, self.wake)
