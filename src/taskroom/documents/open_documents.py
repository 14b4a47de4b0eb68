"""The documents open on this node, and who is connected to each: the registry.

A document opens on first use (a connection, a REST edit): subscribed to its relay channel
first, then read from the database, so whatever is relayed from then on reaches it and the rest
is stored. Concurrent users share one opening. It closes when its last user leaves: what it
still owes (stored updates, the description) is settled by the caller's `settle`, and a user
arriving meanwhile waits for that, then opens it afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..errors import NotFound
from ..realtime.frames import binary_frame
from ..settings import Settings
from .protocol import sync_step1_message
from .relay import DocumentRelay
from .shared import Peer, SharedDocument, seed
from .store import DocumentStore

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class OpenDocument:
    shared: SharedDocument
    users: int = 0  # connections and REST edits using it
    version: int = 0  # of the stored snapshot this node last read
    seen: set[int] = field(default_factory=set)  # stored update rows already applied here
    stored_rows: int = 0  # update rows stored since the last compaction, as far as this node knows
    pending: list[bytes] = field(default_factory=list)  # this node's updates waiting to be stored
    writer: asyncio.Task[None] | None = None
    description: str | None = None  # the task's plain description, as last written or read
    editor: str | None = None  # who made the latest change (credited with the description)
    flush: asyncio.TimerHandle | None = None
    flushing: asyncio.Task[None] | None = None
    cut_logged: bool = False  # that the description holds only the start of the text was logged

    @property
    def task_id(self) -> str:
        return self.shared.task_id

    def broadcast(self, message: bytes, skip: Peer | None = None) -> None:
        """One y-websocket message to every connection of the document (but `skip`)."""
        frame = binary_frame(message)  # framed once for every reader
        for peer in self.shared.peers:
            if peer is not skip:
                peer.send_frame(frame)

    def after_dropped(self) -> None:
        """Updates that waited too long (or too many) were dropped from the document. What they
        depended on may still come: the next re-read takes every stored row again, and each
        editor is asked for its state (its answer, a sync step 2, is checked like any edit)."""
        shared = self.shared
        if not shared.dropped_pending:
            return
        shared.dropped_pending = False
        logger.warning("document %s: updates waiting for ones they depend on were dropped", shared.task_id)
        self.version = 0
        self.seen = set()
        step1 = sync_step1_message(shared.doc.get_state())
        for peer in shared.peers:
            if peer.can_edit:
                peer.send(step1)


class OpenDocuments:
    def __init__(
        self,
        settings: Settings,
        store: DocumentStore,
        relay: DocumentRelay,
        max_chars: int,
        settle: Callable[[OpenDocument], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._store = store
        self._relay = relay
        self._max_chars = max_chars
        self._settle = settle  # what a document owes before it closes
        self.by_task: dict[str, OpenDocument] = {}
        self._opening: dict[str, asyncio.Future[OpenDocument]] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        self.emptied = asyncio.Event()  # set whenever no document is open here

    def get(self, task_id: str) -> OpenDocument | None:
        return self.by_task.get(task_id)

    def is_current(self, document: OpenDocument) -> bool:
        """Whether the document is still the one open for its task (not closed meanwhile)."""
        return self.by_task.get(document.task_id) is document

    def of_workspace(self, workspace_id: str) -> list[OpenDocument]:
        return [d for d in self.by_task.values() if d.shared.workspace_id == workspace_id]

    async def acquire(self, task_id: str) -> OpenDocument:
        """The open document, opened if it is not; raises `NotFound`. Pair with `release`."""
        closing = self._closing.get(task_id)
        while closing is not None:  # closed (stored, compacted) first, then opened afresh
            await asyncio.shield(closing)
            closing = self._closing.get(task_id)
        document = self.by_task.get(task_id)
        if document is None:
            opening = self._opening.get(task_id)
            if opening is not None:
                document = await asyncio.shield(opening)
            else:
                document = await self._open(task_id)
        document.users += 1
        return document

    async def _open(self, task_id: str) -> OpenDocument:
        future = self._opening[task_id] = asyncio.get_running_loop().create_future()
        settings = self._settings
        try:
            # Subscribed before reading: whatever is relayed from now on reaches us, the rest is stored.
            await self._relay.subscribe(task_id)
            stored = await self._store.open(task_id, seed)
            if stored is None:
                raise NotFound("task not found")
            shared = SharedDocument(
                task_id,
                stored.workspace_id,
                self._max_chars,
                settings.doc_max_bytes,
                settings.doc_pending_max_bytes,
                settings.doc_pending_max_age_seconds,
            )
            document = OpenDocument(
                shared, description=stored.description, stored_rows=len(stored.update_ids)
            )
            for part in stored.parts:
                shared.apply(part)
            shared.measure()
            document.version = stored.version
            document.seen = set(stored.update_ids)
            document.after_dropped()  # nobody to ask yet: the first re-read tries again
            self.by_task[task_id] = document
            future.set_result(document)
            return document
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it through their own await
            with contextlib.suppress(Exception):
                await self._relay.unsubscribe(task_id)
            raise
        finally:
            del self._opening[task_id]

    async def release(self, document: OpenDocument) -> None:
        document.users -= 1
        task_id = document.task_id
        if document.users == 0 and self.is_current(document) and task_id not in self._closing:
            closing = self._closing[task_id] = asyncio.create_task(self.close(task_id))
            # Gone from the map the moment it is done, before anyone waiting on it runs again.
            closing.add_done_callback(lambda _: self._closing.pop(task_id, None))
            await asyncio.shield(closing)

    async def close(self, task_id: str) -> None:
        """The last user left (or the node stops): settle what the document owes, then close it."""
        document = self.by_task.get(task_id)
        if document is None:
            return
        try:
            await self._settle(document)
        except Exception:
            logger.exception("closing document %s", task_id)
        finally:
            if self.is_current(document):
                del self.by_task[task_id]
            await self._relay.unsubscribe(task_id)
            if not self.by_task:
                self.emptied.set()
