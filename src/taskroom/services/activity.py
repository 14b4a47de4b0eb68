"""A task's activity (PROTOCOL §7): its events in the workspace log, newest first, each with the
fields it changed as `{field: {from, to}}`.

Every task event carries the whole task, so a field's `from` is its value in the task's previous
event that carried the task. The log row names the task (`workspace_events.task_id`), so a page
is one index range plus, for its oldest entry, one more row. What retention pruned is simply not
there; when the event before the oldest one left was pruned, `from` is read from the event
itself where it says (a move's `from`, a completion's flip) and is null otherwise.

Each listed type has one entry in `DESCRIBERS`; comment events are entries there too (their
writer passes `task_id` to `WorkspaceLog.append`), and they do not carry the task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..schemas import Role
from ..wire import MessageType
from .database import Database
from .log import WorkspaceLog
from .tasks import visible_task

DEFAULT_ACTIVITY_LIMIT = 50
MAX_ACTIVITY_LIMIT = 200

Task = dict[str, Any]
Changes = dict[str, dict[str, Any]]
# An event's data and the task as it was before it (None: unknown, pruned) -> what changed.
Describer = Callable[[dict[str, Any], Task | None], Changes]

# Fields that change with every event, or never: listing them would say nothing.
_NOT_LISTED = frozenset({"id", "workspaceId", "createdBy", "createdAt", "updatedAt", "version"})


def _diff(before: Task | None, after: Task) -> Changes:
    old = before or {}
    return {
        name: {"from": old.get(name), "to": value}
        for name, value in after.items()
        if name not in _NOT_LISTED and old.get(name) != value
    }


def _created(data: dict[str, Any], _before: Task | None) -> Changes:
    # Everything from null; a field left null was not set, so it is not listed.
    return _diff(None, data["task"])


def _updated(data: dict[str, Any], before: Task | None) -> Changes:
    task = data["task"]
    if before is None:
        return {name: {"from": None, "to": task.get(name)} for name in data.get("changes", [])}
    return _diff(before, task)


def _moved(data: dict[str, Any], before: Task | None) -> Changes:
    changes = _diff(before, data["task"]) if before is not None else {}
    origin = data.get("from") or {}
    for name in ("status", "position"):  # the event says exactly where it came from
        if origin.get(name) != data["task"].get(name):
            changes[name] = {"from": origin.get(name), "to": data["task"].get(name)}
    return changes


def _completed(data: dict[str, Any], before: Task | None) -> Changes:
    task = data["task"]
    if before is None:
        return {"completed": {"from": not task["completed"], "to": task["completed"]}}
    return _diff(before, task)


def _restored(data: dict[str, Any], before: Task | None) -> Changes:
    # Against the task as it was when deleted: what the restore changed (its place, if taken).
    return _diff(before, data["task"]) if before is not None else {}


def _deleted(_data: dict[str, Any], _before: Task | None) -> Changes:
    return {}


def _comment(data: dict[str, Any], _before: Task | None) -> Changes:
    # The comment's body as written (an edit's earlier body is in the event before it, which the
    # entry does not read: `from` stays null). The task itself did not change.
    return {"body": {"from": None, "to": data["comment"]["body"]}}


DESCRIBERS: dict[str, Describer] = {
    MessageType.TASK_CREATED: _created,
    MessageType.TASK_UPDATED: _updated,
    MessageType.TASK_COMPLETED: _completed,
    MessageType.TASK_MOVED: _moved,
    MessageType.TASK_DELETED: _deleted,
    MessageType.TASK_RESTORED: _restored,
    MessageType.COMMENT_ADDED: _comment,
    MessageType.COMMENT_UPDATED: _comment,
    MessageType.COMMENT_DELETED: _deleted,
}
# The types whose data carries the whole task: the states `from` is read from.
CARRY_TASK = frozenset(
    {
        MessageType.TASK_CREATED,
        MessageType.TASK_UPDATED,
        MessageType.TASK_COMPLETED,
        MessageType.TASK_MOVED,
        MessageType.TASK_RESTORED,
    }
)


@dataclass(frozen=True, slots=True)
class ActivityPage:
    items: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True, slots=True)
class TaskActivity:
    db: Database
    log: WorkspaceLog

    async def read(self, user_id: str, task_id: str, before: int | None, limit: int) -> ActivityPage:
        """Up to `limit` entries with seq < before (the newest when None), newest first."""
        async with self.db.read() as session:
            task = await visible_task(session, task_id, user_id, Role.VIEWER)
            workspace_id = task.workspace_id
            # One more than asked: it says whether more follow, and is the state before the last.
            rows = await self.log.task_events(session, workspace_id, task_id, before, limit + 1, DESCRIBERS)
            base: Task | None = None
            if rows:
                earlier = await self.log.task_events(
                    session, workspace_id, task_id, rows[-1].seq, 1, CARRY_TASK
                )
                if earlier:
                    base = json.loads(earlier[0].envelope)["data"]["task"]
        items: list[dict[str, Any]] = []
        state = base
        for row in reversed(rows):  # oldest first: each one's `from` is the state before it
            envelope = json.loads(row.envelope)
            data = envelope["data"]
            items.append(
                {
                    "seq": row.seq,
                    "type": str(row.type),
                    "actorId": data.get("actorId"),
                    "timestamp": envelope["timestamp"],
                    "changes": DESCRIBERS[row.type](data, state),
                }
            )
            if row.type in CARRY_TASK:
                state = data["task"]
        items.reverse()
        return ActivityPage(items[:limit], len(rows) > limit)
