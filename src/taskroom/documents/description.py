"""The task's plain `description`, following its document.

After DOC_DESCRIPTION_DELAY of quiet, the document's text is written as the task's description
through the task service (a `TASK_UPDATED` event, like a REST edit), credited to the latest
editor who still may edit. Writing the same text twice changes nothing, so every node that
hears of a change lets the description follow; only the first write of a text counts.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import Forbidden, NotFound
from ..schemas import DESCRIPTION_MAX_LENGTH, TaskPatch
from ..services.tasks import TaskService
from .open_documents import OpenDocument
from .persistence import Spawn
from .shared import SharedDocument

logger = logging.getLogger(__name__)


class DescriptionFollower:
    def __init__(self, tasks: TaskService, delay_seconds: float, spawn: Spawn) -> None:
        self._tasks = tasks
        self._delay = delay_seconds
        self._spawn = spawn

    def soon(self, document: OpenDocument, editor: str | None) -> None:
        """The document changed (by `editor`, when known): its description follows after the delay."""
        if editor is not None:
            document.editor = editor
        if document.flush is not None:
            document.flush.cancel()
        document.flush = asyncio.get_running_loop().call_later(self._delay, self._flush_now, document)

    def cancel(self, document: OpenDocument) -> None:
        """A change still on its way is overridden (a REST edit sets the text itself)."""
        if document.flush is not None:
            document.flush.cancel()
            document.flush = None

    async def settle(self, document: OpenDocument) -> None:
        """The document closes: a description due later is written now, one being written awaited."""
        while document.flush is not None or (document.flushing is not None and not document.flushing.done()):
            if document.flush is not None:  # due later: now
                document.flush.cancel()
                document.flush = None
                await self._write(document)
            elif document.flushing is not None:
                await asyncio.shield(document.flushing)

    def _flush_now(self, document: OpenDocument) -> None:
        document.flush = None
        document.flushing = self._spawn(self._write(document))

    async def _write(self, document: OpenDocument) -> None:
        text = plain_description(document.shared)
        if text == (document.description or ""):
            return
        shared = document.shared
        if len(text) == DESCRIPTION_MAX_LENGTH and not document.cut_logged:
            document.cut_logged = True
            logger.warning(
                "document %s is longer than a description may be; the description holds its start",
                shared.task_id,
            )
        # Credited to the latest editor; one who has lost the right meanwhile is passed over.
        candidates = [document.editor] if document.editor else []
        candidates += [peer.user_id for peer in shared.peers if peer.can_edit]
        for user_id in dict.fromkeys(candidates):
            try:
                await self._tasks.update(user_id, shared.task_id, TaskPatch(description=text))
            except (NotFound, Forbidden):
                continue
            document.description = text
            if plain_description(shared) != text and document.flush is None:
                # Changed while this was written (a REST edit may even have committed first and
                # been overwritten by it): the text as it is now goes next.
                self.soon(document, None)
            return
        logger.info(
            "document %s: no editor left to credit; the description follows the next edit", shared.task_id
        )


def plain_description(shared: SharedDocument) -> str:
    """The document's text as the task's plain description: without NUL characters, which no
    description may hold (PostgreSQL text cannot). A client may still type one into the document,
    which keeps it; the description simply leaves it out rather than no longer following. A text
    past the limit of a description (stored before the limit held, or two nodes' edits crossing)
    is cut to that limit, for the same reason."""
    return str(shared.text).replace("\x00", "")[:DESCRIPTION_MAX_LENGTH]
