"""A document's changes in the database: stored in batches, compacted, and read back.

Each node stores its own changes (a writer task per document batches what is pending), folds
the update rows into the snapshot every DOC_COMPACT_UPDATES rows and when the document closes,
and re-reads what other nodes stored: the relay between nodes is best effort, the database is not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.exc import IntegrityError

from .open_documents import OpenDocument
from .protocol import MalformedMessage
from .shared import fold
from .store import DocumentStore, StoredDocument

logger = logging.getLogger(__name__)

# A stored update that fails to be written is tried again this many times, a second apart.
WRITE_ATTEMPTS = 5

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class DocumentPersistence:
    def __init__(self, store: DocumentStore, compact_updates: int, spawn: Spawn) -> None:
        self._store = store
        self._compact_updates = compact_updates
        self._spawn = spawn

    def stage(self, document: OpenDocument, update: bytes) -> None:
        """A change made on this node, to be stored (by the document's writer, started if idle)."""
        document.pending.append(update)
        if document.writer is None or document.writer.done():
            document.writer = self._spawn(self._write(document))

    async def settle(self, document: OpenDocument) -> None:
        """The document closes: what is pending stored, its rows folded into the snapshot."""
        while document.writer is not None and not document.writer.done():
            await asyncio.shield(document.writer)
        if document.stored_rows:
            await self.compact(document)

    async def _write(self, document: OpenDocument) -> None:
        task_id = document.task_id
        attempts = 0
        while document.pending:
            batch, document.pending = document.pending, []
            try:
                ids = await self._store.append(task_id, batch)
            except IntegrityError:  # the task was deleted: nothing to keep
                return
            except Exception:
                attempts += 1
                if attempts >= WRITE_ATTEMPTS:
                    # Its clients still hold these changes and send them again when they reconnect.
                    logger.exception("document %s: %d updates could not be stored", task_id, len(batch))
                    return
                logger.warning("document %s: storing updates failed; trying again", task_id)
                document.pending[:0] = batch
                await asyncio.sleep(1)
                continue
            attempts = 0
            document.seen.update(ids)
            document.stored_rows += len(ids)
            if document.stored_rows >= self._compact_updates:
                await self.compact(document)

    async def compact(self, document: OpenDocument) -> None:
        task_id = document.task_id
        try:
            if await self._store.compact(task_id, fold):
                document.stored_rows = 0
                # Our rows went into the snapshot: the next re-read takes the new one as it is.
        except Exception:
            logger.exception("compacting document %s failed; its updates stay as they are", task_id)

    async def changes(self, document: OpenDocument) -> StoredDocument | None:
        """What was stored since this node last read the document; None when the task is gone."""
        return await self._store.changes(document.task_id, document.version, document.seen)

    def absorb(self, document: OpenDocument, stored: StoredDocument) -> list[bytes]:
        """Apply what was read back; the effective updates, for this node's clients."""
        effective: list[bytes] = []
        for part in stored.parts:
            try:
                update = document.shared.apply(part)
            except MalformedMessage:
                logger.error("document %s: a stored update is not one; skipped", document.task_id)
                continue
            if update is not None:
                effective.append(update)
        document.version = stored.version
        document.seen = set(stored.update_ids)
        document.after_dropped()
        return effective
