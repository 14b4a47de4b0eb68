"""Where task documents live: a compacted snapshot per task and the updates appended since.

A document is its snapshot plus all its update rows, applied in any order (Yjs updates commute
and applying one twice changes nothing). So:

- each node appends the updates its own clients made, and nothing else;
- compaction folds the rows it read into the snapshot and deletes exactly those rows, with a
  compare-and-set on `version`: two nodes compacting at once cannot lose a row, since the loser
  changes nothing, and a row committed while the winner worked is left for the next compaction;
- a node that opens a document reads the snapshot and every row, then lives on relayed updates,
  re-reading now and then the rows it has not seen (`changes`) in case a relay was lost.

A task's document row is created the first time the document is opened, from the task's
plain description, in one transaction: two nodes opening it at once cannot both seed the text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Member, Task, TaskDocument, TaskDocumentUpdate
from ..services.database import Database
from ..timeutil import utcnow


@dataclass(frozen=True, slots=True)
class StoredDocument:
    workspace_id: str
    description: str | None  # the task's plain description when the document was read
    version: int
    snapshot: bytes | None  # None: unchanged since the version the caller named
    updates: dict[int, bytes]  # update rows not seen before, by id
    update_ids: frozenset[int]  # every update row of the document now

    @property
    def parts(self) -> list[bytes]:
        """Everything to apply, snapshot first (any order would do)."""
        head = [self.snapshot] if self.snapshot is not None else []
        return head + list(self.updates.values())


class DocumentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def task_workspace(self, task_id: str) -> str | None:
        async with self._db.read() as session:
            workspace_id: str | None = await session.scalar(
                select(Task.workspace_id).where(Task.id == task_id, Task.live())
            )
            return workspace_id

    async def exists(self, task_id: str) -> bool:
        """Whether the task's document was ever opened (has a stored state)."""
        async with self._db.read() as session:
            found = await session.scalar(select(TaskDocument.task_id).where(TaskDocument.task_id == task_id))
            return found is not None

    async def open(self, task_id: str, seed: Callable[[str | None], bytes]) -> StoredDocument | None:
        """The whole stored document (created from `seed(description)` if it has none yet);
        None when the task does not exist."""
        for _ in range(2):  # a second round only when another node created the row meanwhile
            try:
                return await self._open(task_id, seed)
            except IntegrityError:
                continue
        return await self._open(task_id, seed)

    async def _open(self, task_id: str, seed: Callable[[str | None], bytes]) -> StoredDocument | None:
        async with self._db.transaction() as session:
            # The task's row locked (PostgreSQL; SQLite has one writer anyway): a REST edit of the
            # description commits either before this reads it, or after the document row exists
            # (and then finds it and edits the document).
            task = (
                await session.execute(
                    select(Task.workspace_id, Task.description)
                    .where(Task.id == task_id, Task.live())
                    .with_for_update()
                )
            ).first()
            if task is None:
                return None
            row = await session.get(TaskDocument, task_id)
            if row is None:
                row = TaskDocument(
                    task_id=task_id, snapshot=seed(task.description), version=1, updated_at=utcnow()
                )
                session.add(row)
                await session.flush()
            updates = await self._update_rows(session, task_id)
            return StoredDocument(
                task.workspace_id, task.description, row.version, row.snapshot, updates, frozenset(updates)
            )

    async def changes(self, task_id: str, version: int, seen: Collection[int]) -> StoredDocument | None:
        """What a node holding `version` and the rows `seen` lacks (the snapshot again only when it
        was compacted since); None when the document (its task) is gone."""
        async with self._db.read() as session:
            head = (
                await session.execute(
                    select(TaskDocument.version, Task.workspace_id, Task.description)
                    .join(Task, Task.id == TaskDocument.task_id)
                    .where(TaskDocument.task_id == task_id, Task.live())
                )
            ).first()
            if head is None:
                return None
            snapshot: bytes | None = None
            if head.version != version:
                snapshot = await session.scalar(
                    select(TaskDocument.snapshot).where(TaskDocument.task_id == task_id)
                )
                seen = ()
            ids = frozenset(
                (
                    await session.scalars(
                        select(TaskDocumentUpdate.id).where(TaskDocumentUpdate.task_id == task_id)
                    )
                ).all()
            )
            missing = ids.difference(seen)
            updates: dict[int, bytes] = {}
            if missing:
                rows = await session.execute(
                    select(TaskDocumentUpdate.id, TaskDocumentUpdate.data).where(
                        TaskDocumentUpdate.id.in_(sorted(missing))
                    )
                )
                updates = {row.id: row.data for row in rows}
            return StoredDocument(head.workspace_id, head.description, head.version, snapshot, updates, ids)

    async def append(self, task_id: str, updates: Sequence[bytes]) -> list[int]:
        """Store updates made by this node's clients; their row ids. Raises IntegrityError when the
        task (and so its document) was deleted for good meanwhile; a task in the trash keeps
        them, as it keeps the rest of its document for a restore."""
        now = utcnow()
        rows = [TaskDocumentUpdate(task_id=task_id, data=data, created_at=now) for data in updates]
        async with self._db.transaction() as session:
            session.add_all(rows)
            await session.flush()
        return [row.id for row in rows]

    async def compact(self, task_id: str, fold: Callable[[list[bytes]], bytes]) -> bool:
        """Fold the stored updates into the snapshot; False when there was nothing to fold or
        another node compacted first (its result stands, and nothing is lost either way)."""
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    select(TaskDocument.version, TaskDocument.snapshot).where(TaskDocument.task_id == task_id)
                )
            ).first()
            if row is None:
                return False
            updates = await self._update_rows(session, task_id)
            if not updates:
                return False
            snapshot = fold([row.snapshot, *updates.values()])
            swapped = await session.execute(
                update(TaskDocument)
                .where(TaskDocument.task_id == task_id, TaskDocument.version == row.version)
                .values(snapshot=snapshot, version=row.version + 1, updated_at=utcnow())
            )
            if swapped.rowcount != 1:  # type: ignore[attr-defined]
                return False
            # Exactly the rows folded: one committed while this ran stays for the next time.
            await session.execute(delete(TaskDocumentUpdate).where(TaskDocumentUpdate.id.in_(list(updates))))
            return True

    async def access(
        self, task_ids: Collection[str], user_ids: Collection[str], workspace_id: str
    ) -> tuple[set[str], dict[str, str]]:
        """Which of `task_ids` still exist, and the role in the workspace of each of `user_ids`
        still a member (what the endpoint re-checks after a membership or deletion event)."""
        async with self._db.read() as session:
            tasks = set(
                (await session.scalars(select(Task.id).where(Task.id.in_(list(task_ids)), Task.live()))).all()
            )
            members = await session.execute(
                select(Member.user_id, Member.role).where(
                    Member.workspace_id == workspace_id, Member.user_id.in_(list(user_ids))
                )
            )
            return tasks, {row.user_id: row.role for row in members}

    @staticmethod
    async def _update_rows(session: AsyncSession, task_id: str) -> dict[int, bytes]:
        rows = await session.execute(
            select(TaskDocumentUpdate.id, TaskDocumentUpdate.data)
            .where(TaskDocumentUpdate.task_id == task_id)
            .order_by(TaskDocumentUpdate.id)
        )
        return {row.id: row.data for row in rows}
