"""The shared task descriptions of one node: open documents, who may edit them, where changes go.

An open document (`OpenDocument`) lives on a node while a connection (or a REST edit) uses it:
loaded from the database, subscribed to its relay channel, and kept in step with the other nodes.
What happens to a change:

- from one of this node's clients: applied, sent to the node's other clients, relayed to the
  other nodes, stored (batched by a writer per document), and the task's plain `description`
  follows after `DOC_DESCRIPTION_DELAY` of quiet (through the task service: a `TASK_UPDATED`);
- from another node (relay) or the database re-read: applied and sent to this node's clients;
  the description follows here too (writing the same text twice changes nothing);
- from a REST PATCH of `description`: the text replaced (all deleted, then inserted) by the node
  that handled the PATCH, then like a client's change, except that the task already says so.

Access: a connection is admitted with its role; a workspace with open connections has its
real-time room reserved on this node, so its membership and deletion events reach us in log
order (the hub's safety net repairs what the broker loses). Each such event re-reads, for the
documents of that workspace, which tasks still exist and the roles of the users connected: a
removed member is closed 4403, a deleted task (or workspace) closes its document's connections
with 4404, and a role change makes a connection editor or reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from .. import logging_redaction
from ..errors import Forbidden, NotFound
from ..realtime.broker import Broker
from ..realtime.connection import Flusher
from ..realtime.frames import binary_frame
from ..realtime.room import Room, RoomEvent
from ..schemas import DESCRIPTION_MAX_LENGTH, ROLE_RANK, Role, TaskPatch
from ..security.tokens import TokenError
from ..settings import Settings
from ..wire import CloseCode, MessageType
from .awareness import AwarenessStateTooLarge
from .protocol import MalformedMessage, awareness_message, parse, sync_step1_message, update_message
from .relay import AWARENESS, UPDATE, DocumentRelay, Relayed
from .shared import DocumentTooLarge, Peer, SharedDocument, TooManyAwarenessClients, fold, seed
from .store import DocumentStore, StoredDocument

if TYPE_CHECKING:
    from ..container import Services
    from ..realtime.hub import Hub

logger = logging.getLogger(__name__)


# Events after which the connections of a workspace's documents are checked again.
ACCESS_EVENTS = frozenset(
    {
        MessageType.WORKSPACE_MEMBER_REMOVED,
        MessageType.WORKSPACE_MEMBER_UPDATED,
        MessageType.WORKSPACE_DELETED,
        MessageType.TASK_DELETED,
    }
)
# A stored update that fails to be written is tried again this many times, a second apart.
_WRITE_ATTEMPTS = 5


class Refused(Exception):
    """The upgrade is refused with this HTTP status (before the WebSocket is accepted)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Crowded(Exception):
    """Past WS_MAX_CONNECTIONS (on this node) or DOC_MAX_CONNECTIONS_PER_USER (on every node)."""


class Oversized(Exception):
    """The stored document is larger than a connection can be sent: it cannot be opened."""


@dataclass(frozen=True, slots=True)
class Admission:
    user_id: str
    workspace_id: str
    can_edit: bool
    expires_at: float
    epoch: int  # the workspace's access epoch read before the role was


@dataclass(slots=True)
class WorkspaceWatch:
    """A workspace with connections to its documents on this node: its room reserved."""

    room: Room
    holders: int = 0
    epoch: int = 0  # access events seen; an admission that saw an older one checks again


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


def _slots_key(user_id: str) -> str:
    """The user's document connection slots: apart from those of `/api/v1/ws`."""
    return f"doc-connections:{user_id}"


def _can_edit(role: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role.MEMBER]


class DocumentService:
    def __init__(self, settings: Settings, services: Services, hub: Hub, broker: Broker) -> None:
        self._settings = settings
        self._services = services
        self._hub = hub
        self.store = DocumentStore(services.db)
        self.relay = DocumentRelay(broker, settings.node_id)
        self._documents: dict[str, OpenDocument] = {}
        self._opening: dict[str, asyncio.Future[OpenDocument]] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        self._watches: dict[str, WorkspaceWatch] = {}
        self._peers: dict[Peer, str] = {}  # this node's connections, each with its slot's id
        self._limits = hub.limits
        # The welcome carries every awareness state: a quarter of a connection's outbound bound.
        self._awareness_limit = settings.ws_max_buffered_bytes // 4
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._max_chars = DESCRIPTION_MAX_LENGTH
        self._emptied = asyncio.Event()  # set whenever no document is open here
        # Writes every document connection touched in a loop turn, once each (as the hub's does).
        self.flusher = Flusher()
        hub.event_listeners.append(self._on_workspace_event)

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
        self._emptied.clear()
        for peer in list(self._peers):
            peer.close(CloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._emptied.wait(), grace)

    async def stop(self) -> None:
        await self.close_all()
        for task_id in list(self._documents):
            await self._close_document(task_id)
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

    # --- admission ------------------------------------------------------------------------------

    async def admit(self, task_id: str, token: str | None, origin: str | None = None) -> Admission:
        """Who is connecting and with what rights; raises `Refused` (403, 401, 404). On success
        the task's workspace is watched until `release(admission)`."""
        allowed = self._settings.allowed_origins
        if allowed is not None and (origin is None or origin.rstrip("/") not in allowed):
            raise Refused(403, "FORBIDDEN", "origin not allowed")  # as on WS /api/v1/ws
        if not token:
            raise Refused(401, "UNAUTHORIZED", "missing token")
        try:
            claims = self._services.tokens.verify(token)
        except TokenError as exc:
            raise Refused(401, "UNAUTHORIZED", str(exc)) from None
        if not await self._services.users.exists(claims.user_id):
            raise Refused(401, "UNAUTHORIZED", "invalid token: the account no longer exists")
        home = await self.store.task_workspace(task_id)
        if home is None:
            raise Refused(404, "NOT_FOUND", "task not found")
        watch = await self._watch(home)
        try:
            epoch = watch.epoch
            tasks, roles = await self.store.access([task_id], [claims.user_id], home)
            role = roles.get(claims.user_id)
            if task_id not in tasks or role is None:
                raise Refused(404, "NOT_FOUND", "task not found")  # existence does not leak
        except BaseException:
            await self._unwatch(home)
            raise
        return Admission(claims.user_id, home, _can_edit(role), claims.expires_at, epoch)

    async def release(self, admission: Admission) -> None:
        await self._unwatch(admission.workspace_id)

    async def _watch(self, workspace_id: str) -> WorkspaceWatch:
        watch = self._watches.get(workspace_id)
        if watch is None:
            room = await self._hub.reserve_room(workspace_id)
            watch = self._watches.get(workspace_id)
            if watch is None:
                watch = self._watches[workspace_id] = WorkspaceWatch(room)
            else:  # another admission reserved it meanwhile: one reservation is enough
                await self._hub.release(room)
        watch.holders += 1
        return watch

    async def _unwatch(self, workspace_id: str) -> None:
        watch = self._watches.get(workspace_id)
        if watch is None:
            return
        watch.holders -= 1
        if watch.holders == 0:
            del self._watches[workspace_id]
            await self._hub.release(watch.room)

    def _on_workspace_event(self, workspace_id: str, event: RoomEvent) -> None:
        watch = self._watches.get(workspace_id)
        if watch is None or event.type not in ACCESS_EVENTS:
            return
        watch.epoch += 1
        self._spawn(self._check_access(workspace_id))

    async def _check_access(self, workspace_id: str) -> None:
        documents = [d for d in self._documents.values() if d.shared.workspace_id == workspace_id]
        peers = [(d, p) for d in documents for p in d.shared.peers]
        if not peers:
            return
        tasks, roles = await self.store.access(
            {d.shared.task_id for d in documents}, {p.user_id for _, p in peers}, workspace_id
        )
        for document, peer in peers:
            role = roles.get(peer.user_id)
            if document.shared.task_id not in tasks:
                peer.close(CloseCode.TASK_DELETED, "the task was deleted")
            elif role is None:
                peer.close(CloseCode.NO_LONGER_MEMBER, "no longer a member of the workspace")
            else:
                promoted = _can_edit(role) and not peer.can_edit
                peer.can_edit = _can_edit(role)
                if promoted:
                    # Its later edits build on the ones ignored while it was a viewer, which the
                    # document lacks: ask for everything it has (its answer is a sync step 2), as
                    # a reconnection would, rather than leave its edits pending here forever.
                    peer.send(sync_step1_message(document.shared.doc.get_state()))

    # --- connections ----------------------------------------------------------------------------

    async def attach(self, task_id: str, peer: Peer, admission: Admission) -> OpenDocument:
        """The peer joins the document (opened here if it is not); it is sent the welcome.
        Raises `Crowded` past WS_MAX_CONNECTIONS on this node or the user's
        DOC_MAX_CONNECTIONS_PER_USER slots, `NotFound` if the task is gone."""
        if len(self._peers) >= self._settings.ws_max_connections:
            raise Crowded("too many document connections on this node")
        slot = uuid.uuid4().hex
        self._peers[peer] = slot  # counted on this node from now on, so the check above holds
        try:
            # With Redis, over every node of the service; the slots of a node that dies stop counting.
            limit = self._settings.doc_max_connections_per_user
            if not await self._limits.open_slot(_slots_key(peer.user_id), slot, limit):
                raise Crowded("too many document connections of this user")
            try:
                document = await self._acquire(task_id)
                await self._refuse_oversized(task_id, document)
            except BaseException:
                await self._limits.close_slot(_slots_key(peer.user_id), slot)
                raise
        except BaseException:
            del self._peers[peer]
            raise
        shared = document.shared
        shared.peers.add(peer)
        shared.awareness_limit = self._awareness_limit
        for frame in shared.welcome():
            peer.send(frame)
        watch = self._watches.get(admission.workspace_id)
        if watch is not None and watch.epoch != admission.epoch:
            # An access event arrived between the role check and now: check again.
            self._spawn(self._check_access(admission.workspace_id))
        return document

    async def _refuse_oversized(self, task_id: str, document: OpenDocument) -> None:
        """Raises `Oversized` (the document released) when its sync step 2 alone would pass what
        a connection may queue: the joiner would be closed 1013 and retry, again and again."""
        size = document.shared.measure()
        if size + 64 <= self.connection_buffer:
            return
        await self._release_document(document)
        logger.warning(
            "document %s (%d bytes) is past what a connection can be sent; refused until it is"
            " reset (a PATCH of the task's description)",
            task_id,
            size,
        )
        raise Oversized("the document is too large to open; a PATCH of the description resets it")

    async def detach(self, document: OpenDocument, peer: Peer) -> None:
        slot = self._peers.pop(peer, None)
        removal = document.shared.forget(peer)
        if removal is not None:
            self._broadcast(document, awareness_message(removal))
            await self.relay.publish(document.shared.task_id, AWARENESS, removal)
        if slot is not None:
            await self._limits.close_slot(_slots_key(peer.user_id), slot)
        await self._release_document(document)

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
        self._after_dropped(document)
        for reply in reception.replies:
            peer.send(reply)
        if reception.ignored:
            logger.debug("document %s: ignored %s from %s", shared.task_id, reception.ignored, peer.user_id)
        if reception.awareness is not None:
            # To the sender too, as y-websocket's server does: a client that hears nothing for
            # 30 s takes its connection for dead, and its own awareness renewals are what it hears.
            self._broadcast(document, awareness_message(reception.awareness))
            await self.relay.publish(shared.task_id, AWARENESS, reception.awareness)
        if reception.update is not None:
            self._changed_here(document, reception.update, peer.user_id, skip=peer)

    def _changed_here(
        self, document: OpenDocument, update: bytes, editor: str | None, skip: Peer | None = None
    ) -> None:
        """A change made on this node: to its clients, the other nodes, the database, the task."""
        self._broadcast(document, update_message(update), skip=skip)
        self._spawn(self.relay.publish(document.shared.task_id, UPDATE, update, editor))
        document.pending.append(update)
        if document.writer is None or document.writer.done():
            document.writer = self._spawn(self._write(document))
        self._description_soon(document, editor)

    def _broadcast(self, document: OpenDocument, message: bytes, skip: Peer | None = None) -> None:
        frame = binary_frame(message)  # framed once for every reader
        for peer in document.shared.peers:
            if peer is not skip:
                peer.send_frame(frame)

    # --- from other nodes and the database ------------------------------------------------------

    def _on_relayed(self, message: Relayed) -> None:
        document = self._documents.get(message.task_id)
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
                self._broadcast(document, awareness_message(taken))
            return
        try:
            update = shared.apply(message.data)
        except MalformedMessage:
            logger.warning("document %s: a bad update was relayed", shared.task_id)
            return
        self._after_dropped(document)
        if update is not None:
            self._broadcast(document, update_message(update))
            self._description_soon(document, message.user_id)

    async def _resync_forever(self) -> None:
        interval = self._settings.doc_resync_interval / 1000
        while True:
            await asyncio.sleep(interval)
            for task_id, document in list(self._documents.items()):
                document.shared.bound_pending()  # by age: nothing else may come to do it
                self._after_dropped(document)
                try:
                    await self._resync(task_id, document)
                except Exception:  # the next round tries again
                    logger.exception("re-reading document %s failed", task_id)

    async def _resync(self, task_id: str, document: OpenDocument) -> None:
        changes = await self.store.changes(task_id, document.version, document.seen)
        if self._documents.get(task_id) is not document:
            return
        if changes is None:
            for peer in list(document.shared.peers):
                peer.close(CloseCode.TASK_DELETED, "the task was deleted")
            return
        self._absorb(document, changes)

    def _absorb(self, document: OpenDocument, stored: StoredDocument) -> None:
        changed = False
        for part in stored.parts:
            try:
                update = document.shared.apply(part)
            except MalformedMessage:
                logger.error("document %s: a stored update is not one; skipped", document.shared.task_id)
                continue
            if update is not None:
                changed = True
                self._broadcast(document, update_message(update))
        document.version = stored.version
        document.seen = set(stored.update_ids)
        self._after_dropped(document)
        if changed:
            self._description_soon(document, None)

    def _after_dropped(self, document: OpenDocument) -> None:
        """Updates that waited too long (or too many) were dropped from the document. What they
        depended on may still come: the next re-read takes every stored row again, and each
        editor is asked for its state (its answer, a sync step 2, is checked like any edit)."""
        shared = document.shared
        if not shared.dropped_pending:
            return
        shared.dropped_pending = False
        logger.warning("document %s: updates waiting for ones they depend on were dropped", shared.task_id)
        document.version = 0
        document.seen = set()
        step1 = sync_step1_message(shared.doc.get_state())
        for peer in shared.peers:
            if peer.can_edit:
                peer.send(step1)

    # --- opening and closing --------------------------------------------------------------------

    async def _acquire(self, task_id: str) -> OpenDocument:
        closing = self._closing.get(task_id)
        while closing is not None:  # closed (stored, compacted) first, then opened afresh
            await asyncio.shield(closing)
            closing = self._closing.get(task_id)
        document = self._documents.get(task_id)
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
        try:
            # Subscribed before reading: whatever is relayed from now on reaches us, the rest is stored.
            await self.relay.subscribe(task_id)
            stored = await self.store.open(task_id, seed)
            if stored is None:
                raise NotFound("task not found")
            shared = SharedDocument(
                task_id,
                stored.workspace_id,
                self._max_chars,
                self._settings.doc_max_bytes,
                self._settings.doc_pending_max_bytes,
                self._settings.doc_pending_max_age / 1000,
            )
            document = OpenDocument(
                shared, description=stored.description, stored_rows=len(stored.update_ids)
            )
            for part in stored.parts:
                shared.apply(part)
            shared.measure()
            document.version = stored.version
            document.seen = set(stored.update_ids)
            self._after_dropped(document)  # nobody to ask yet: the first re-read tries again
            self._documents[task_id] = document
            future.set_result(document)
            return document
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it through their own await
            with contextlib.suppress(Exception):
                await self.relay.unsubscribe(task_id)
            raise
        finally:
            del self._opening[task_id]

    async def _release_document(self, document: OpenDocument) -> None:
        document.users -= 1
        task_id = document.shared.task_id
        if document.users == 0 and self._documents.get(task_id) is document and task_id not in self._closing:
            closing = self._closing[task_id] = asyncio.create_task(self._close_document(task_id))
            # Gone from the map the moment it is done, before anyone waiting on it runs again.
            closing.add_done_callback(lambda _: self._closing.pop(task_id, None))
            await asyncio.shield(closing)

    async def _close_document(self, task_id: str) -> None:
        """The last user left: store what is pending, let the description catch up, compact."""
        document = self._documents.get(task_id)
        if document is None:
            return
        try:
            while document.flush is not None or (
                document.flushing is not None and not document.flushing.done()
            ):
                if document.flush is not None:  # due later: now
                    document.flush.cancel()
                    document.flush = None
                    await self._write_description(document)
                elif document.flushing is not None:
                    await asyncio.shield(document.flushing)
            while document.writer is not None and not document.writer.done():
                await asyncio.shield(document.writer)
            if document.stored_rows:
                await self._compact(document)
        except Exception:
            logger.exception("closing document %s", task_id)
        finally:
            if self._documents.get(task_id) is document:
                del self._documents[task_id]
            await self.relay.unsubscribe(task_id)
            if not self._documents:
                self._emptied.set()

    # --- storing --------------------------------------------------------------------------------

    async def _write(self, document: OpenDocument) -> None:
        task_id = document.shared.task_id
        attempts = 0
        while document.pending:
            batch, document.pending = document.pending, []
            try:
                ids = await self.store.append(task_id, batch)
            except IntegrityError:  # the task was deleted: nothing to keep
                return
            except Exception:
                attempts += 1
                if attempts >= _WRITE_ATTEMPTS:
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
            if document.stored_rows >= self._settings.doc_compact_updates:
                await self._compact(document)

    async def _compact(self, document: OpenDocument) -> None:
        task_id = document.shared.task_id
        try:
            if await self.store.compact(task_id, fold):
                document.stored_rows = 0
                # Our rows went into the snapshot: the next re-read takes the new one as it is.
        except Exception:
            logger.exception("compacting document %s failed; its updates stay as they are", task_id)

    # --- the task's plain description -----------------------------------------------------------

    def _description_soon(self, document: OpenDocument, editor: str | None) -> None:
        if editor is not None:
            document.editor = editor
        if document.flush is not None:
            document.flush.cancel()
        delay = self._settings.doc_description_delay / 1000
        document.flush = asyncio.get_running_loop().call_later(delay, self._flush_now, document)

    def _flush_now(self, document: OpenDocument) -> None:
        document.flush = None
        document.flushing = self._spawn(self._write_description(document))

    async def _write_description(self, document: OpenDocument) -> None:
        text = _plain_description(document.shared)
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
                await self._services.tasks.update(user_id, shared.task_id, TaskPatch(description=text))
            except (NotFound, Forbidden):
                continue
            document.description = text
            if _plain_description(shared) != text and document.flush is None:
                # Changed while this was written (a REST edit may even have committed first and
                # been overwritten by it): the text as it is now goes next.
                self._description_soon(document, None)
            return
        logger.info(
            "document %s: no editor left to credit; the description follows the next edit", shared.task_id
        )

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
            document = await self._acquire(task_id)
        except NotFound:
            return
        try:
            if document.flush is not None:  # a change of the document still on its way is overridden
                document.flush.cancel()
                document.flush = None
            update = document.shared.replace_text(text or "")
            document.description = text
            if update is not None:
                self._broadcast(document, update_message(update))
                self._spawn(self.relay.publish(task_id, UPDATE, update, None))
                document.pending.append(update)
                if document.writer is None or document.writer.done():
                    document.writer = self._spawn(self._write(document))
        finally:
            await self._release_document(document)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background document task failed", exc_info=task.exception())


def _plain_description(shared: SharedDocument) -> str:
    """The document's text as the task's plain description: without NUL characters, which no
    description may hold (PostgreSQL text cannot). A client may still type one into the document,
    which keeps it; the description simply leaves it out rather than no longer following. A text
    past the limit of a description (stored before the limit held, or two nodes' edits crossing)
    is cut to that limit, for the same reason."""
    return str(shared.text).replace("\x00", "")[:DESCRIPTION_MAX_LENGTH]
