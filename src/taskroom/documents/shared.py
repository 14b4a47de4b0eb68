"""One task's shared document on this node, sans I/O: the Yjs state, awareness and who is editing.

Every change, whoever makes it (a client, another node, the database re-read, a REST edit),
goes through `pycrdt`, and what it really changed comes back as the *effective* update (the
document's own update event, empty when the change was known already). That one value is what
is sent to the other clients, relayed to the other nodes and stored, so a duplicate (an update
relayed and also read back from the database, a client re-sending after a reconnect) costs
nothing downstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import Awareness, Doc, Text, TransactionEvent, merge_updates

from .awareness import Entry, decode, encode, entry_size
from .integration import integrated
from .protocol import (
    MalformedMessage,
    Message,
    MessageType,
    SyncStep,
    awareness_message,
    sync_step1_message,
    sync_step2_message,
)

TEXT_NAME = "description"
# Clients renew their awareness state every 15 s (y-protocols): one not heard of for 30 s is gone.
AWARENESS_TIMEOUT_MS = 30_000
# y-websocket's provider announces one client id (its document's); a few allow other clients.
AWARENESS_IDS_PER_CONNECTION = 4
# The live awareness states of a document, encoded; the service sets a quarter of the outbound
# bound of a connection (WS_MAX_BUFFERED_BYTES), so that a joiner's welcome always fits it.
DEFAULT_AWARENESS_BYTES = 262_144

logger = logging.getLogger(__name__)


class Peer(Protocol):
    """A connection to a document, as the document sees it."""

    user_id: str
    can_edit: bool
    awareness_ids: set[int]  # the awareness client ids this connection owns (it announced first)

    def send(self, message: bytes) -> None:
        """One y-websocket message to this connection alone."""

    def send_frame(self, frame: bytes) -> None:
        """A complete WebSocket frame, built once for every connection it goes to."""

    def close(self, code: int, reason: str) -> None: ...


class DocumentTooLarge(Exception):
    """The update would take the document past its limits; it was not applied."""


class TooManyAwarenessClients(Exception):
    """A connection announced more awareness client ids than it may own; nothing was applied."""


@dataclass(slots=True)
class Reception:
    """What one client frame leads to."""

    replies: list[bytes] = field(default_factory=list)  # to the sender
    update: bytes | None = None  # an effective document change: to the others, relayed, stored
    awareness: bytes | None = None  # the awareness update as taken (bare): to every client, relayed
    ignored: str | None = None  # why nothing happened (a viewer's edit)


def seed(description: str | None) -> bytes:
    """The first state of a task's document: its plain description as the text."""
    doc: Doc[Any] = Doc()
    text = doc.get(TEXT_NAME, type=Text)
    if description:
        text += description
    return doc.get_update()


def fold(parts: Iterable[bytes]) -> bytes:
    """Updates merged into one, deleted content collected (what compaction stores).

    A part that depends on one not stored yet (another node's row written later) is kept as it
    is, merged in without being integrated: `get_update()` alone would leave it out, and
    compaction deletes the rows it folded."""
    doc: Doc[Any] = Doc()
    parts = list(parts)
    for part in parts:
        doc.apply_update(part)
    state = doc.get_state()
    waiting = [part for part in parts if not integrated(part, state)]
    if waiting:
        return merge_updates(doc.get_update(), *waiting)
    return doc.get_update()


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may hold: integrated (characters, encoded bytes) and pending."""

    max_chars: int
    max_bytes: int
    max_pending_bytes: int  # updates waiting for ones they depend on
    max_pending_age: float  # seconds one may wait


@dataclass(frozen=True, slots=True)
class _Parked:
    """An update applied but not (all) integrated: its rest sits in the Yjs pending store."""

    update: bytes
    since: float  # time.monotonic() when it was applied


class SharedDocument:
    def __init__(
        self,
        task_id: str,
        workspace_id: str,
        max_chars: int,
        max_bytes: int,
        max_pending_bytes: int = 131_072,
        max_pending_age: float = 30.0,
    ) -> None:
        self.task_id = task_id
        self.workspace_id = workspace_id
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server itself is nobody's cursor
        self.awareness_limit = DEFAULT_AWARENESS_BYTES
        self._owners: dict[int, Peer | str] = {}  # awareness client id -> its connection or node
        self._awareness_sizes: dict[int, int] = {}  # the live states' encoded sizes, by client
        self._awareness_total = 0
        self._next_expiry = 0.0  # ms: when stale states are looked for again
        self.peers: set[Peer] = set()
        self._limits = Limits(max_chars, max_bytes, max_pending_bytes, max_pending_age)
        self._size = 0  # bytes applied since the state was last measured: never below the real size
        self._effective: list[bytes] = []
        # What the Yjs pending store holds, as far as it can be known: the updates that left
        # something there. pycrdt cannot empty that store, so dropping them rebuilds the document.
        self._parked: list[_Parked] = []
        self.dropped_pending = False  # set when pending updates were dropped; the service clears it
        self._subscription = self.doc.observe(self._on_change)

    # --- document changes -----------------------------------------------------------------------

    def _on_change(self, event: TransactionEvent) -> None:
        self._effective.append(event.update)

    def _collect(self) -> bytes | None:
        changes, self._effective = self._effective, []
        if not changes:
            return None
        self._size += sum(len(change) for change in changes)
        return changes[0] if len(changes) == 1 else fold(changes)

    def _apply(self, update: bytes) -> bytes | None:
        try:
            self.doc.apply_update(update)
        except ValueError as exc:
            self._effective.clear()
            raise MalformedMessage(f"not a Yjs update: {exc}") from None
        effective = self._collect()
        self._settle_pending(update)
        return effective

    def apply(self, update: bytes) -> bytes | None:
        """Apply an update known to be acceptable (stored, relayed); the effective change.

        Such an update may legitimately arrive before one it depends on (relays and re-reads
        are not ordered between nodes): it waits, within the pending bounds; past them the
        oldest waiting updates are dropped (`dropped_pending`)."""
        effective = self._apply(update)
        self.bound_pending()
        return effective

    def apply_checked(self, update: bytes) -> bytes | None:
        """Apply a client's update unless it takes the document, integrated or pending, past its
        limits (`DocumentTooLarge`, nothing changed)."""
        limits = self._limits
        waiting = self.pending_bytes()
        if (
            self.characters() + waiting + len(update) > limits.max_chars
            or self._size + waiting + len(update) > limits.max_bytes
            or waiting + len(update) > limits.max_pending_bytes
        ):
            # It might pass them: try it on a copy first. An update of n bytes adds at most n
            # characters and n bytes of state, once what it depends on is there, so small updates
            # on a document with little waiting never come here.
            size = self._trial(update)
            effective = self._apply(update)
            self._size = size
        else:
            effective = self._apply(update)
        self.bound_pending()  # by age: the bytes were checked
        return effective

    def _trial(self, update: bytes) -> int:
        """The document's encoded size after `update`, found on a copy (the waiting updates
        applied too); raises `DocumentTooLarge` when that passes a limit."""
        limits = self._limits
        base = self.doc.get_update()
        trial: Doc[Any] = Doc()
        trial.apply_update(base)
        try:
            for parked in self._parked:
                trial.apply_update(parked.update)
            trial.apply_update(update)
        except ValueError as exc:
            raise MalformedMessage(f"not a Yjs update: {exc}") from None
        size = len(trial.get_update())
        chars = len(str(trial.get(TEXT_NAME, type=Text)))
        # A document already past a limit (stored before it was enforced, or two nodes' edits
        # crossing) may still shrink: only growth past a limit is refused.
        if (chars > limits.max_chars and chars > self.characters()) or (
            size > limits.max_bytes and size > len(base)
        ):
            raise DocumentTooLarge(
                f"the document would pass its limits ({limits.max_chars} characters, {limits.max_bytes} bytes)"
            )
        state = trial.get_state()
        waiting = sum(len(u) for u in [*(p.update for p in self._parked), update] if not integrated(u, state))
        if waiting > limits.max_pending_bytes:
            raise DocumentTooLarge(
                f"too many updates wait for ones they depend on ({limits.max_pending_bytes} bytes)"
            )
        return size

    def _settle_pending(self, update: bytes) -> None:
        """Keep track of what waits: the update just applied if it left something pending, the
        earlier ones until they are all in."""
        state = self.doc.get_state()
        self._parked = [parked for parked in self._parked if not integrated(parked.update, state)]
        if not integrated(update, state) and all(parked.update != update for parked in self._parked):
            self._parked.append(_Parked(update, time.monotonic()))

    def pending_bytes(self) -> int:
        return sum(len(parked.update) for parked in self._parked)

    def bound_pending(self) -> bool:
        """Drop the updates that waited past the age bound, then the oldest while more than the
        byte bound waits; whether any was dropped."""
        deadline = time.monotonic() - self._limits.max_pending_age
        keep = [parked for parked in self._parked if parked.since > deadline]
        while sum(len(parked.update) for parked in keep) > self._limits.max_pending_bytes:
            keep.pop(0)
        if len(keep) == len(self._parked):
            return False
        self._drop_pending(keep)
        return True

    def _drop_pending(self, keep: list[_Parked]) -> None:
        """The document rebuilt from its integrated state (`get_update` leaves the pending store
        out), with only `keep` waiting again. The client id stays, which the awareness uses."""
        fresh: Doc[Any] = Doc(client_id=self.doc.client_id)
        fresh.apply_update(self.doc.get_update())
        for parked in keep:
            fresh.apply_update(parked.update)  # waits again, as it did: no change to collect
        self._subscription.drop()
        self.doc = fresh
        self.text = fresh.get(TEXT_NAME, type=Text)
        self._parked = keep
        self._effective.clear()
        self._subscription = fresh.observe(self._on_change)
        self.dropped_pending = True

    def replace_text(self, text: str) -> bytes | None:
        """Make the text `text` (a REST edit): everything deleted, then inserted, in one change."""
        if str(self.text) == text:
            return None
        with self.doc.transaction(origin="rest"):
            self.text.clear()
            if text:
                self.text.insert(0, text)
        return self._collect()

    def characters(self) -> int:
        return len(str(self.text))

    def measure(self) -> int:
        """The encoded size of the integrated state, measured (and remembered)."""
        self._size = len(self.doc.get_update())
        return self._size

    def over_limits(self) -> bool:
        """Whether the document holds more than its limits allow (stored before they were
        enforced, or two nodes' edits crossing near a limit)."""
        return self.characters() > self._limits.max_chars or self.measure() > self._limits.max_bytes

    # --- clients --------------------------------------------------------------------------------

    def welcome(self) -> list[bytes]:
        """What a new connection is sent first: the server's state vector (the client answers
        with what the server lacks), then the awareness states of the others."""
        frames = [sync_step1_message(self.doc.get_state())]
        states = self.awareness_states()
        if states is not None:
            frames.append(states)
        return frames

    def receive(self, peer: Peer, message: Message) -> Reception:
        if message.type == MessageType.SYNC:
            if message.step == SyncStep.STEP1:
                try:
                    missing = self.doc.get_update(message.payload)
                except ValueError as exc:
                    raise MalformedMessage(f"not a state vector: {exc}") from None
                return Reception(replies=[sync_step2_message(missing)])
            if not peer.can_edit:
                return Reception(ignored="a viewer's edit")
            return Reception(update=self.apply_checked(message.payload))
        if message.type == MessageType.AWARENESS:
            return Reception(awareness=self.apply_awareness(message.payload, peer))
        if message.type == MessageType.QUERY_AWARENESS:
            states = self.awareness_states()
            return Reception(replies=[states] if states is not None else [])
        return Reception(ignored="an auth message from a client")

    # --- awareness ------------------------------------------------------------------------------
    #
    # Each awareness client id has an owner: the connection of this node that announced it first
    # (it keeps it until it leaves), or the node that relayed it first (until that node says the
    # state is gone, or it times out). An update touches only the ids its sender owns or may take;
    # the rest of it is left out. A connection owns at most AWARENESS_IDS_PER_CONNECTION ids, and
    # the live states of a document take at most `awareness_limit` bytes encoded, so that the
    # welcome (which carries them all) fits the outbound bound of the connection that joins.

    def apply_awareness(self, update: bytes, origin: Peer | str) -> bytes | None:
        """Apply what `origin` (a connection, or the id of the node that relayed it) may change of
        the awareness update; that part, encoded again, or None when nothing of it was taken.

        Raises `MalformedMessage`, `AwarenessStateTooLarge` or (a connection)
        `TooManyAwarenessClients`; then nothing is applied."""
        entries = decode(update)
        if not isinstance(origin, str):
            claims = {e.client for e in entries if e.state is not None and e.client not in self._owners}
            if len(origin.awareness_ids | claims) > AWARENESS_IDS_PER_CONNECTION:
                raise TooManyAwarenessClients(
                    f"more than {AWARENESS_IDS_PER_CONNECTION} awareness client ids on one connection"
                )
        accepted = self._admissible(entries, origin)
        if not accepted:
            return None
        cleaned = encode(accepted)
        self.awareness.apply_awareness_update(cleaned, origin)
        for client in dict.fromkeys(e.client for e in accepted):
            self._settle_awareness(client, origin)
        return cleaned

    def _admissible(self, entries: list[Entry], origin: Peer | str) -> list[Entry]:
        sizes = [0 if entry.state is None else entry_size(entry.state) for entry in entries]
        growth = sum(
            size - self._awareness_sizes.get(e.client, 0) for e, size in zip(entries, sizes, strict=True)
        )
        if self._awareness_total + growth > self.awareness_limit:
            self._expire()  # states of clients no longer heard of may hold the room: gone first
        accepted: list[Entry] = []
        total = self._awareness_total
        taken: dict[int, int] = {}  # sizes of the states taken from this update so far
        for entry, size in zip(entries, sizes, strict=True):
            owner = self._owners.get(entry.client)
            if owner is None and entry.state is None:
                continue  # nobody's state: nothing to remove
            if owner is not None and owner != origin:
                logger.debug("document %s: awareness client %d is another's", self.task_id, entry.client)
                continue
            if entry.state is not None:
                before = taken.get(entry.client, self._awareness_sizes.get(entry.client, 0))
                if total - before + size > self.awareness_limit:
                    logger.debug("document %s: awareness full; a state left out", self.task_id)
                    continue
                total += size - before
                taken[entry.client] = size
            accepted.append(entry)
        return accepted

    def _settle_awareness(self, client: int, origin: Peer | str) -> None:
        """Owner and size of `client` after an update of `origin` was applied."""
        self._awareness_total -= self._awareness_sizes.pop(client, 0)
        if client in self.awareness.states:
            size = entry_size(self.awareness.states[client])
            self._awareness_sizes[client] = size
            self._awareness_total += size
            self._owners[client] = origin
            if not isinstance(origin, str):
                origin.awareness_ids.add(client)
        elif isinstance(origin, str):
            # Gone on the node that owned it: free for whoever announces it next. (A connection
            # keeps its ids until it leaves, so it cannot go through fresh ids one after another.)
            self._disown(client)

    def _disown(self, client: int) -> None:
        self._owners.pop(client, None)
        self._awareness_total -= self._awareness_sizes.pop(client, 0)
        # Its clock is kept by y-protocols for ever; dropped here so that the table stays bounded
        # by its owners (a later announcement of the id starts afresh).
        self.awareness.meta.pop(client, None)

    def _expire(self) -> None:
        now = time.time() * 1000
        # A scan of every state: at most once a second (a state expires after 30 s), so that a
        # full document's renewals do not each pay for one.
        if now < self._next_expiry:
            return
        self._next_expiry = now + 1000
        stale = [
            client
            for client, meta in self.awareness.meta.items()
            if client in self.awareness.states and now - meta["lastUpdated"] > AWARENESS_TIMEOUT_MS
        ]
        if not stale:
            return
        # A client of a node that died says nothing more: forget it.
        self.awareness.remove_awareness_states(stale, "timeout")
        for client in stale:
            if isinstance(self._owners.get(client), str):
                self._disown(client)
            else:  # still its connection's, which may renew it
                self._awareness_total -= self._awareness_sizes.pop(client, 0)

    def awareness_states(self) -> bytes | None:
        """Every live awareness state as one message; None when there is none."""
        self._expire()
        clients = list(self.awareness.states)
        if not clients:
            return None
        return awareness_message(self.awareness.encode_awareness_update(clients))

    def awareness_bytes(self) -> int:
        """What the live awareness states take, encoded (at most `awareness_limit`)."""
        return self._awareness_total

    def forget(self, peer: Peer) -> bytes | None:
        """The connection left: its awareness states removed; the awareness update that says so
        to everyone else (y-protocols' `removeAwarenessStates`), or None if it announced none."""
        self.peers.discard(peer)
        owned = [client for client in peer.awareness_ids if self._owners.get(client) is peer]
        peer.awareness_ids.clear()
        live = [client for client in owned if client in self.awareness.states]
        removal = None
        if live:
            self.awareness.remove_awareness_states(live, "left")
            # Removed states are encoded as null with their last clock, which every client accepts.
            removal = self.awareness.encode_awareness_update(live)
        for client in owned:
            self._disown(client)
        return removal
