"""The shared task descriptions of one node: what happens to a change, and who may make it.

The parts, one job each: `admission.py` (who may connect), `watches.py` (the workspaces whose
access events we follow), `open_documents.py` (the documents open here and their connections),
`persistence.py` (stored, compacted, read back), `description.py` (the task's plain description).
This service ties them together. What happens to a change:

- from one of this node's clients: applied, sent to the node's other clients, relayed to the
  other nodes, stored (batched by a writer per document), and the task's plain `description`
  follows after `DOC_DESCRIPTION_DELAY` of quiet (through the task service: a `TASK_UPDATED`);
- from another node (relay) or the database re-read: applied and sent to this node's clients;
  the description follows here too (writing the same text twice changes nothing);
- from a REST PATCH of `description`: the text replaced (all deleted, then inserted) by the node
  that handled the PATCH, then like a client's change, except that the task already says so.

Access: each access event of a watched workspace re-reads, for the documents of that workspace,
which tasks still exist and the roles of the users connected: a removed member is closed 4403,
a deleted task (or workspace) closes its document's connections with 4404, and a role change
makes a connection editor or reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from .. import logging_redaction
from ..edge.authenticator import Authenticator
from ..edge.origins import OriginPolicy
from ..edge.slots import ConnectionSlots, Crowded, Slot
from ..errors import NotFound
from ..realtime.broker import Broker
from ..realtime.connection import Flusher
from ..realtime.port import WorkspaceWatchPort
from ..realtime.revocations import RevocationIndex
from ..schemas import DESCRIPTION_MAX_LENGTH
from ..security.limit_store import LimitStore
from ..settings import Settings
from ..wire import CloseCode
from .admission import Admission, DocumentAdmission, Refused, can_edit
from .awareness import AwarenessStateTooLarge
from .description import DescriptionFollower
from .open_documents import OpenDocument, OpenDocuments
from .outbound import SocketPeer
from .persistence import DocumentPersistence
from .protocol import MalformedMessage, awareness_message, parse, sync_step1_message, update_message
from .relay import AWARENESS, UPDATE, DocumentRelay, Relayed
from .shared import DocumentTooLarge, Peer, TooManyAwarenessClients
from .store import DocumentStore
from .watches import ACCESS_EVENTS, WorkspaceWatches

if TYPE_CHECKING:
    from ..container import Services

__all__ = [
    "ACCESS_EVENTS",
    "Admission",
    "CloseCode",
    "Crowded",
    "DocumentService",
    "OpenDocument",
    "Oversized",
    "Refused",
]

logger = logging.getLogger(__name__)

# The user's document connection slots, apart from those of `/api/v1/ws` (the key predates
# this module: nodes of two versions count together).
SLOTS_KEY_PREFIX = "doc-connections"


class Oversized(Exception):
    """The stored document is larger than a connection can be sent: it cannot be opened."""


class DocumentService:
    def __init__(
        self,
        settings: Settings,
        services: Services,
        watch_port: WorkspaceWatchPort,
        limits: LimitStore,
        broker: Broker,
        authenticator: Authenticator,
        revocations: RevocationIndex | None = None,
    ) -> None:
        self._settings = settings
        # The node's one index (the hub's), so that a revocation closes document sockets too.
        self._revocations = revocations if revocations is not None else RevocationIndex()
        self.store = DocumentStore(services.db)
        self.relay = DocumentRelay(broker, settings.node_id)
        self._background: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._watches = WorkspaceWatches(watch_port, self._access_changed)
        self.admission = DocumentAdmission(
            OriginPolicy.from_settings(settings), authenticator, self.store, self._watches
        )
        self._slots = ConnectionSlots(
            limits,
            SLOTS_KEY_PREFIX,
            "document",
            per_node=settings.ws_max_connections,
            per_user=settings.doc_max_connections_per_user,
        )
        self._persistence = DocumentPersistence(self.store, settings.doc_compact_updates, self._spawn)
        self._description = DescriptionFollower(
            services.tasks, settings.doc_description_delay_seconds, self._spawn
        )
        self._open = OpenDocuments(settings, self.store, self.relay, DESCRIPTION_MAX_LENGTH, self._settle)
        self._documents = self._open.by_task  # task id -> its open document (tests read it too)
        self._peers: dict[Peer, Slot] = {}  # this node's connections, each with its slot
        # The welcome carries every awareness state: a quarter of a connection's outbound bound.
        self._awareness_limit = settings.ws_max_buffered_bytes // 4
        # Writes every document connection touched in a loop turn, once each (as the hub's does).
        self.flusher = Flusher()

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def connection_buffer(self) -> int:
        """Bytes one document connection may have queued: the usual backlog, plus a whole
        document, which a new client's sync step 2 carries in one frame."""
        return self._settings.ws_max_buffered_bytes + self._settings.doc_max_bytes

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        # Also when the app runs under another runner than `taskroom serve` (whose config does it).
        logging_redaction.install()
        await self.relay.start()
        self._tasks = [
            asyncio.create_task(self.relay.run(self._on_relayed), name="documents-relay"),
            asyncio.create_task(self._resync_forever(), name="documents-resync"),
        ]

    async def close_all(self, grace: float = 5.0) -> None:
        """Close every document connection with 1001 and wait, up to `grace` s, for them to go."""
        if not self._documents:
            return
        self._open.emptied.clear()
        for peer in list(self._peers):
            peer.close(CloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open.emptied.wait(), grace)

    async def stop(self) -> None:
        await self.close_all()
        for task_id in list(self._documents):
            await self._open.close(task_id)
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.relay.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)
        return task

    async def _settle(self, document: OpenDocument) -> None:
        """The last user left: let the description catch up, store what is pending, compact."""
        await self._description.settle(document)
        await self._persistence.settle(document)

    # --- admission and access -------------------------------------------------------------------

    async def admit(self, task_id: str, token: str | None, origin: str | None = None) -> Admission:
        """See `DocumentAdmission.admit`: raises `Refused`; pair with `release`."""
        return await self.admission.admit(task_id, token, origin)

    async def release(self, admission: Admission) -> None:
        await self.admission.release(admission)

    def _access_changed(self, workspace_id: str) -> None:
        self._spawn(self._check_access(workspace_id))

    async def _check_access(self, workspace_id: str) -> None:
        documents = self._open.of_workspace(workspace_id)
        peers = [(d, p) for d in documents for p in d.shared.peers]
        if not peers:
            return
        tasks, roles = await self.store.access(
            {d.task_id for d in documents}, {p.user_id for _, p in peers}, workspace_id
        )
        for document, peer in peers:
            role = roles.get(peer.user_id)
            if document.task_id not in tasks:
                peer.close(CloseCode.TASK_DELETED, "the task was deleted")
            elif role is None:
                peer.close(CloseCode.NO_LONGER_MEMBER, "no longer a member of the workspace")
            else:
                promoted = can_edit(role) and not peer.can_edit
                peer.can_edit = can_edit(role)
                if promoted:
                    # Its later edits build on the ones ignored while it was a viewer, which the
                    # document lacks: ask for everything it has (its answer is a sync step 2), as
                    # a reconnection would, rather than leave its edits pending here forever.
                    peer.send(sync_step1_message(document.shared.doc.get_state()))

    # --- connections ----------------------------------------------------------------------------

    async def attach(self, task_id: str, peer: Peer, admission: Admission) -> OpenDocument:
        """The peer joins the document (opened here if it is not); it is sent the welcome.
        Raises `Crowded` past WS_MAX_CONNECTIONS on this node or the user's
        DOC_MAX_CONNECTIONS_PER_USER slots (on every node), `NotFound` if the task is gone."""
        slot = await self._slots.open(peer.user_id)
        try:
            document = await self._open.acquire(task_id)
            await self._refuse_oversized(task_id, document)
        except BaseException:
            await self._slots.close(slot)
            raise
        self._peers[peer] = slot
        shared = document.shared
        shared.peers.add(peer)
        shared.awareness_limit = self._awareness_limit
        for frame in shared.welcome():
            peer.send(frame)
        if self._watches.epoch(admission.workspace_id) not in (None, admission.epoch):
            # An access event arrived between the role check and now: check again.
            self._access_changed(admission.workspace_id)
        return document

    async def _refuse_oversized(self, task_id: str, document: OpenDocument) -> None:
        """Raises `Oversized` (the document released) when its sync step 2 alone would pass what
        a connection may queue: the joiner would be closed 1013 and retry, again and again."""
        size = document.shared.measure()
        if size + 64 <= self.connection_buffer:
            return
        await self._open.release(document)
        logger.warning(
            "document %s (%d bytes) is past what a connection can be sent; refused until it is"
            " reset (a PATCH of the task's description)",
            task_id,
            size,
        )
        raise Oversized("the document is too large to open; a PATCH of the description resets it")

    def identified(self, peer: SocketPeer, admission: Admission) -> None:
        """Close the peer 4401 when the session (or API key) it was admitted with is revoked."""
        if admission.identity is not None:
            self._revocations.track(
                peer.connection, admission.identity, lambda reason: peer.close(CloseCode.UNAUTHORIZED, reason)
            )

    def forget_identity(self, peer: SocketPeer) -> None:
        self._revocations.forget(peer.connection)

    async def detach(self, document: OpenDocument, peer: Peer) -> None:
        slot = self._peers.pop(peer, None)
        removal = document.shared.forget(peer)
        if removal is not None:
            document.broadcast(awareness_message(removal))
            await self.relay.publish(document.task_id, AWARENESS, removal)
        if slot is not None:
            await self._slots.close(slot)
        await self._open.release(document)

    async def receive(self, document: OpenDocument, peer: Peer, frame: bytes) -> None:
        """One binary frame from a client."""
        shared = document.shared
        try:
            reception = shared.receive(peer, parse(frame))
        except MalformedMessage as exc:
            peer.close(CloseCode.PROTOCOL_ERROR, f"not a y-websocket message: {exc}"[:120])
            return
        except (DocumentTooLarge, AwarenessStateTooLarge) as exc:
            peer.close(CloseCode.MESSAGE_TOO_BIG, str(exc)[:120])
            return
        except TooManyAwarenessClients as exc:
            peer.close(CloseCode.POLICY_VIOLATION, str(exc)[:120])
            return
        document.after_dropped()
        for reply in reception.replies:
            peer.send(reply)
        if reception.ignored:
            logger.debug("document %s: ignored %s from %s", shared.task_id, reception.ignored, peer.user_id)
        if reception.awareness is not None:
            # To the sender too, as y-websocket's server does: a client that hears nothing for
            # 30 s takes its connection for dead, and its own awareness renewals are what it hears.
            document.broadcast(awareness_message(reception.awareness))
            await self.relay.publish(shared.task_id, AWARENESS, reception.awareness)
        if reception.update is not None:
            self._changed_here(document, reception.update, peer.user_id, skip=peer)

    def _changed_here(
        self, document: OpenDocument, update: bytes, editor: str | None, skip: Peer | None = None
    ) -> None:
        """A change made on this node: to its clients, the other nodes, the database, the task."""
        document.broadcast(update_message(update), skip=skip)
        self._spawn(self.relay.publish(document.task_id, UPDATE, update, editor))
        self._persistence.stage(document, update)
        self._description.soon(document, editor)

    # --- from other nodes and the database ------------------------------------------------------

    def _on_relayed(self, message: Relayed) -> None:
        document = self._open.get(message.task_id)
        if document is None:
            return
        shared = document.shared
        if message.kind == AWARENESS:
            try:
                taken = shared.apply_awareness(message.data, f"node:{message.node}")
            except (MalformedMessage, AwarenessStateTooLarge):
                logger.warning("document %s: a bad awareness update was relayed", shared.task_id)
                return
            if taken is not None:
                document.broadcast(awareness_message(taken))
            return
        try:
            update = shared.apply(message.data)
        except MalformedMessage:
            logger.warning("document %s: a bad update was relayed", shared.task_id)
            return
        document.after_dropped()
        if update is not None:
            document.broadcast(update_message(update))
            self._description.soon(document, message.user_id)

    async def _resync_forever(self) -> None:
        interval = self._settings.doc_resync_interval_seconds
        while True:
            await asyncio.sleep(interval)
            for task_id, document in list(self._documents.items()):
                document.shared.bound_pending()  # by age: nothing else may come to do it
                document.after_dropped()
                try:
                    await self._resync(document)
                except Exception:  # the next round tries again
                    logger.exception("re-reading document %s failed", task_id)

    async def _resync(self, document: OpenDocument) -> None:
        changes = await self._persistence.changes(document)
        if not self._open.is_current(document):
            return
        if changes is None:
            for peer in list(document.shared.peers):
                peer.close(CloseCode.TASK_DELETED, "the task was deleted")
            return
        effective = self._persistence.absorb(document, changes)
        for update in effective:
            document.broadcast(update_message(update))
        if effective:
            self._description.soon(document, None)

    # --- a REST edit of the description ---------------------------------------------------------

    async def replace_description(self, task_id: str, text: str | None) -> None:
        """A REST PATCH changed the task's description: the document's text becomes that too.

        A task whose document was never opened has nothing to change: its first opening starts
        from the description."""
        try:
            await self._replace_description(task_id, text)
        except Exception:  # the PATCH itself is committed; its answer must not turn into an error
            logger.exception("document %s did not take the description of a REST edit", task_id)

    async def _replace_description(self, task_id: str, text: str | None) -> None:
        if task_id not in self._documents and not await self.store.exists(task_id):
            return
        try:
            document = await self._open.acquire(task_id)
        except NotFound:
            return
        try:
            self._description.cancel(document)
            update = document.shared.replace_text(text or "")
            document.description = text
            if update is not None:
                document.broadcast(update_message(update))
                self._spawn(self.relay.publish(task_id, UPDATE, update, None))
                self._persistence.stage(document, update)
        finally:
            await self._open.release(document)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background document task failed", exc_info=task.exception())
