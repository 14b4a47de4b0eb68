"""Where the client is in each workspace's event log: what to resume from, what is a duplicate.

Pure bookkeeping, no I/O. The WebSocket client consults it for every logged event (one that
carries ``seq``) in the order frames arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum


class Verdict(Enum):
    DELIVER = "deliver"  # the next event of the workspace (or the first the client sees of it)
    DUPLICATE = "duplicate"  # seq <= last seen: already delivered
    GAP = "gap"  # seq > last seen + 1: events are missing in between


class LogPositions:
    """The last ``seq`` delivered per workspace.

    The server promises every event once and in order after a resume; the client still drops
    what it has already delivered, and reports a gap instead of delivering past one, so a
    broken promise shows up as a resync rather than as a silently skipped event.
    """

    def __init__(self, start: Mapping[str, int] | None = None) -> None:
        self._last: dict[str, int] = dict(start or {})

    def __contains__(self, workspace_id: object) -> bool:
        return workspace_id in self._last

    def last(self, workspace_id: str) -> int | None:
        return self._last.get(workspace_id)

    def resume_map(self) -> dict[str, int]:
        """``resume`` for AUTHENTICATE: every workspace seen, from its last delivered seq."""
        return dict(self._last)

    def accept(self, workspace_id: str, seq: int) -> Verdict:
        """Judge the event `seq` of `workspace_id`; a DELIVER verdict also records it as seen."""
        last = self._last.get(workspace_id)
        if last is not None and seq <= last:
            return Verdict.DUPLICATE
        if last is not None and seq > last + 1:
            return Verdict.GAP
        self._last[workspace_id] = seq
        return Verdict.DELIVER

    def start_at(self, workspace_id: str, seq: int) -> None:
        """Follow `workspace_id` from `seq` on, unless it is followed already."""
        self._last.setdefault(workspace_id, seq)

    def reset_to(self, workspace_id: str, seq: int) -> None:
        """The client reloaded the workspace as it is at `seq` (a reset snapshot)."""
        self._last[workspace_id] = seq

    def forget(self, workspace_id: str) -> None:
        """The workspace is gone for this user (deleted, or the user removed): stop resuming it."""
        self._last.pop(workspace_id, None)

    def joined(self, rooms: Iterable[tuple[str, int]], resumed: Iterable[str]) -> None:
        """Apply an AUTHENTICATE answer: `rooms` are the (workspace, seq) pairs joined.

        A workspace joined live (not resumed) is followed from its seq at the join. A workspace
        that was asked for with ``resume`` and is not joined is one the user left meanwhile.
        """
        joined = dict(rooms)
        for workspace_id in resumed:
            if workspace_id not in joined:
                self.forget(workspace_id)
        for workspace_id, seq in joined.items():
            self.start_at(workspace_id, seq)
